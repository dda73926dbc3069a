//! A loaded plugin: its compiled component, its manifest (what `describe`
//! returned, validated) and its effective grant.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use crate::bindings::{PluginPre, types};
use crate::call::CallState;
use crate::grant::{Capability, Grant};
use crate::limits::{MAX_SCHEMA_BYTES, MAX_TOOLS_PER_PLUGIN};

/// Longest tool or plugin name.
pub const MAX_NAME_LEN: usize = 64;

/// Behaviour hints of a tool.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Annotations {
    pub read_only: bool,
    pub destructive: bool,
    pub idempotent: bool,
    pub open_world: bool,
}

/// One tool as the host serves it.
#[derive(Clone)]
pub struct ToolSpec {
    pub name: String,
    pub title: Option<String>,
    pub description: String,
    /// The input schema as a JSON object.
    pub input_schema: Arc<serde_json::Map<String, Value>>,
    pub output_schema: Option<Arc<serde_json::Map<String, Value>>>,
    pub annotations: Annotations,
    pub cache_ttl_ms: Option<u32>,
    validator: Arc<jsonschema::Validator>,
}

impl std::fmt::Debug for ToolSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolSpec")
            .field("name", &self.name)
            .field("annotations", &self.annotations)
            .finish_non_exhaustive()
    }
}

impl ToolSpec {
    /// Validates arguments against the input schema; every violation is
    /// reported as `"<json pointer>: <message>"`.
    pub fn validate_args(&self, args: &Value) -> Result<(), Vec<String>> {
        let errors: Vec<String> = self
            .validator
            .iter_errors(args)
            .map(|e| {
                let path = e.instance_path().to_string();
                if path.is_empty() {
                    e.to_string()
                } else {
                    format!("{path}: {e}")
                }
            })
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// A static resource, template or prompt the plugin declared (served by a
/// later version of the MCP layer; kept so `inspect` can show them).
#[derive(Debug, Clone, Serialize)]
pub struct Extras {
    pub resources: Vec<String>,
    pub resource_templates: Vec<String>,
    pub prompts: Vec<String>,
    pub collectors: Vec<String>,
}

/// What `describe` returned, validated.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub name: String,
    pub version: String,
    pub description: String,
    pub tools: Vec<ToolSpec>,
    pub capabilities: Vec<Capability>,
    pub extras: Extras,
}

/// A compiled, validated plugin ready to instantiate.
pub struct LoadedPlugin {
    pub manifest: Manifest,
    pub grant: Grant,
    /// The file it came from.
    pub path: PathBuf,
    /// SHA-256 of the component bytes.
    pub digest: String,
    /// The component's imports, as named in the binary.
    pub imports: Vec<String>,
    pub(crate) pre: PluginPre<CallState>,
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("name", &self.manifest.name)
            .field("version", &self.manifest.version)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl LoadedPlugin {
    pub fn name(&self) -> &str {
        &self.manifest.name
    }

    pub fn tool(&self, name: &str) -> Option<&ToolSpec> {
        self.manifest.tools.iter().find(|t| t.name == name)
    }
}

/// `^[a-zA-Z0-9_-]{1,64}$`, the MCP tool-name rule.
pub fn is_valid_tool_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `^[a-z0-9-]{1,64}$`, starting with a letter or digit.
pub fn is_valid_plugin_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Turns `describe`'s answer into a [`Manifest`], collecting every problem.
pub fn build_manifest(info: types::PluginInfo) -> Result<Manifest, Vec<String>> {
    let mut problems = Vec::new();
    if !is_valid_plugin_name(&info.name) {
        problems.push(format!(
            "plugin name {:?} must match ^[a-z0-9][a-z0-9-]{{0,63}}$",
            info.name
        ));
    }
    if info.tools.len() > MAX_TOOLS_PER_PLUGIN {
        problems.push(format!(
            "declares {} tools; at most {MAX_TOOLS_PER_PLUGIN} are allowed",
            info.tools.len()
        ));
    }
    let mut seen = BTreeSet::new();
    let mut tools = Vec::with_capacity(info.tools.len());
    for tool in info.tools {
        match build_tool(tool) {
            Ok(spec) => {
                if !seen.insert(spec.name.clone()) {
                    problems.push(format!("tool {:?} is declared twice", spec.name));
                }
                tools.push(spec);
            }
            Err(mut p) => problems.append(&mut p),
        }
    }
    let capabilities = info
        .capabilities
        .into_iter()
        .map(|c| match c {
            types::Capability::DevicesRead => Capability::DevicesRead,
            types::Capability::Ssh(p) => Capability::Ssh(p.into_iter().collect()),
            types::Capability::Store(c) => Capability::Store(c.into_iter().collect()),
            types::Capability::Metrics => Capability::Metrics,
        })
        .collect();
    let extras = Extras {
        resources: info.resources.into_iter().map(|r| r.uri).collect(),
        resource_templates: info
            .resource_templates
            .into_iter()
            .map(|r| r.uri_template)
            .collect(),
        prompts: info.prompts.into_iter().map(|p| p.name).collect(),
        collectors: info.collectors.into_iter().map(|c| c.name).collect(),
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Manifest {
        name: info.name,
        version: info.version,
        description: info.description,
        tools,
        capabilities,
        extras,
    })
}

fn build_tool(tool: types::ToolInfo) -> Result<ToolSpec, Vec<String>> {
    let mut problems = Vec::new();
    let name = tool.name;
    if !is_valid_tool_name(&name) {
        problems.push(format!(
            "tool name {name:?} must match ^[a-zA-Z0-9_-]{{1,{MAX_NAME_LEN}}}$"
        ));
    }
    let input = parse_schema(&name, "input", &tool.input_schema);
    let output = tool
        .output_schema
        .as_deref()
        .map(|s| parse_schema(&name, "output", s))
        .transpose();
    let validator = match &input {
        Ok(schema) => jsonschema::validator_for(&Value::Object((**schema).clone()))
            .map_err(|e| format!("tool {name:?}: input schema does not compile: {e}")),
        Err(_) => Err(String::new()),
    };
    let (input, output, validator) = match (input, output, validator) {
        (Ok(i), Ok(o), Ok(v)) => (i, o, v),
        (i, o, v) => {
            problems.extend(i.err());
            problems.extend(o.err());
            problems.extend(v.err().filter(|e| !e.is_empty()));
            return Err(problems);
        }
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(ToolSpec {
        name,
        title: tool.title,
        description: tool.description,
        input_schema: input,
        output_schema: output,
        annotations: Annotations {
            read_only: tool.annotations.read_only,
            destructive: tool.annotations.destructive,
            idempotent: tool.annotations.idempotent,
            open_world: tool.annotations.open_world,
        },
        cache_ttl_ms: tool.cache_ttl_ms,
        validator: Arc::new(validator),
    })
}

fn parse_schema(
    tool: &str,
    which: &str,
    text: &str,
) -> Result<Arc<serde_json::Map<String, Value>>, String> {
    if text.len() > MAX_SCHEMA_BYTES {
        return Err(format!(
            "tool {tool:?}: {which} schema is {} bytes; at most {MAX_SCHEMA_BYTES} are allowed",
            text.len()
        ));
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => {
            if which == "input" && map.get("type").and_then(Value::as_str) != Some("object") {
                return Err(format!(
                    "tool {tool:?}: input schema must have \"type\": \"object\""
                ));
            }
            Ok(Arc::new(map))
        }
        Ok(_) => Err(format!(
            "tool {tool:?}: {which} schema is not a JSON object"
        )),
        Err(e) => Err(format!("tool {tool:?}: {which} schema is not JSON: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_names_follow_the_mcp_rule() {
        for ok in ["echo", "list_devices", "a-b", &"x".repeat(64)] {
            assert!(is_valid_tool_name(ok), "{ok}");
        }
        for bad in ["", "has space", "dot.name", "ünï", &"x".repeat(65)] {
            assert!(!is_valid_tool_name(bad), "{bad}");
        }
    }

    #[test]
    fn plugin_names_are_lowercase_slugs() {
        assert!(is_valid_plugin_name("py-hello"));
        assert!(!is_valid_plugin_name("Utility"));
        assert!(!is_valid_plugin_name("-x"));
    }

    fn info(tools: Vec<types::ToolInfo>) -> types::PluginInfo {
        types::PluginInfo {
            name: "p".into(),
            version: "1".into(),
            description: String::new(),
            tools,
            capabilities: vec![],
            resources: vec![],
            resource_templates: vec![],
            prompts: vec![],
            collectors: vec![],
        }
    }

    fn tool(name: &str, schema: &str) -> types::ToolInfo {
        types::ToolInfo {
            name: name.into(),
            title: None,
            description: String::new(),
            input_schema: schema.into(),
            output_schema: None,
            annotations: types::ToolAnnotations {
                read_only: true,
                destructive: false,
                idempotent: true,
                open_world: false,
            },
            cache_ttl_ms: None,
        }
    }

    #[test]
    fn reports_every_manifest_problem_at_once() {
        let problems = build_manifest(info(vec![
            tool("bad name", r#"{"type":"object"}"#),
            tool("ok", "not json"),
            tool("arr", r#"{"type":"array"}"#),
            tool("dup", r#"{"type":"object"}"#),
            tool("dup", r#"{"type":"object"}"#),
        ]))
        .expect_err("invalid");
        assert_eq!(problems.len(), 4, "{problems:#?}");
    }

    #[test]
    fn validates_arguments_against_the_input_schema() {
        let m = build_manifest(info(vec![tool(
            "t",
            r#"{"type":"object","properties":{"n":{"type":"integer","minimum":1}},"required":["n"],"additionalProperties":false}"#,
        )]))
        .expect("valid");
        let t = &m.tools[0];
        assert!(t.validate_args(&serde_json::json!({"n": 3})).is_ok());
        let errs = t
            .validate_args(&serde_json::json!({"n": 0, "x": 1}))
            .expect_err("invalid");
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(t.validate_args(&serde_json::json!({})).is_err());
    }
}
