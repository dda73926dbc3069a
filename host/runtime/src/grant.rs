//! Grants: what the operator allows each plugin to use.
//!
//! A plugin declares the capabilities it needs in `describe`; the operator
//! grants capabilities per plugin name. A plugin loads only if every declared
//! capability is granted and provided by this host; host functions check the
//! resulting [`Grant`] again on their first line.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// One capability, as declared by a plugin or granted by an operator.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Capability {
    /// Read the device registry.
    DevicesRead,
    /// Run these programs (argv\[0\]) over SSH.
    Ssh(BTreeSet<String>),
    /// Owner-scoped records in these collections.
    Store(BTreeSet<String>),
    /// Write metric samples.
    Metrics,
}

impl Capability {
    /// The capability's family name, as written in grants.
    pub fn family(&self) -> &'static str {
        match self {
            Capability::DevicesRead => "devices-read",
            Capability::Ssh(_) => "ssh",
            Capability::Store(_) => "store",
            Capability::Metrics => "metrics",
        }
    }

    /// Whether this host version implements the capability at all.
    pub fn is_provided(&self) -> bool {
        matches!(self, Capability::DevicesRead | Capability::Ssh(_))
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let join = |set: &BTreeSet<String>| set.iter().cloned().collect::<Vec<_>>().join(",");
        match self {
            Capability::Ssh(programs) => write!(f, "ssh:{}", join(programs)),
            Capability::Store(collections) => write!(f, "store:{}", join(collections)),
            other => f.write_str(other.family()),
        }
    }
}

/// Why a grant string could not be parsed.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("invalid capability {text:?}: {reason}")]
pub struct CapabilityParseError {
    pub text: String,
    pub reason: &'static str,
}

impl FromStr for Capability {
    type Err = CapabilityParseError;

    /// Parses `devices-read`, `metrics`, `ssh:prog1,prog2`, `store:coll1,coll2`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = |reason| CapabilityParseError {
            text: text.to_owned(),
            reason,
        };
        let (family, rest) = match text.split_once(':') {
            Some((family, rest)) => (family, Some(rest)),
            None => (text, None),
        };
        let list = |rest: Option<&str>| -> Result<BTreeSet<String>, CapabilityParseError> {
            let items: BTreeSet<String> = rest
                .ok_or_else(|| err("needs a list after ':'"))?
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            if items.is_empty() {
                return Err(err("the list after ':' is empty"));
            }
            Ok(items)
        };
        match family {
            "devices-read" if rest.is_none() => Ok(Capability::DevicesRead),
            "metrics" if rest.is_none() => Ok(Capability::Metrics),
            "ssh" => Ok(Capability::Ssh(list(rest)?)),
            "store" => Ok(Capability::Store(list(rest)?)),
            "devices-read" | "metrics" => Err(err("takes no list")),
            _ => Err(err("unknown capability")),
        }
    }
}

/// The operator's grants, by plugin name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct GrantPolicy {
    by_plugin: BTreeMap<String, Vec<String>>,
}

impl GrantPolicy {
    /// The grants the bundled plugins need, so a server with no configuration
    /// serves them. Everything else starts with nothing.
    pub fn bundled_defaults() -> GrantPolicy {
        let grants: [(&str, &[&str]); 3] = [
            (
                "utility",
                &["devices-read", "ssh:grep,ls,systemd-detect-virt,true"],
            ),
            (
                "system",
                &["ssh:grep,df,ps,lsblk,smartctl,journalctl,tail,systemctl"],
            ),
            ("network", &["ssh:ip,ss,docker"]),
        ];
        let by_plugin = grants
            .iter()
            .map(|(plugin, caps)| {
                (
                    (*plugin).to_owned(),
                    caps.iter().map(|c| (*c).to_owned()).collect(),
                )
            })
            .collect();
        GrantPolicy { by_plugin }
    }

    /// Adds (or replaces) the grants of one plugin.
    pub fn set(&mut self, plugin: &str, capabilities: Vec<String>) {
        self.by_plugin.insert(plugin.to_owned(), capabilities);
    }

    /// Merges `other` over `self`: a plugin named in `other` takes its list.
    pub fn merged_with(mut self, other: &GrantPolicy) -> GrantPolicy {
        for (plugin, caps) in &other.by_plugin {
            self.by_plugin.insert(plugin.clone(), caps.clone());
        }
        self
    }

    /// Checks every entry parses; returns every problem at once.
    pub fn validate(&self) -> Result<(), Vec<CapabilityParseError>> {
        let errors: Vec<_> = self
            .by_plugin
            .values()
            .flatten()
            .filter_map(|c| c.parse::<Capability>().err())
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// What the operator granted `plugin` (unparseable entries are ignored;
    /// [`GrantPolicy::validate`] reports them at startup).
    pub fn granted(&self, plugin: &str) -> Vec<Capability> {
        self.by_plugin
            .get(plugin)
            .into_iter()
            .flatten()
            .filter_map(|c| c.parse().ok())
            .collect()
    }

    /// Resolves what a plugin declared against what it was granted. Returns
    /// the effective grant, or every declared capability that is missing.
    pub fn resolve(&self, plugin: &str, declared: &[Capability]) -> Result<Grant, Vec<String>> {
        let granted = self.granted(plugin);
        let mut problems = Vec::new();
        let mut grant = Grant::default();
        let mut programs = BTreeSet::new();
        for cap in declared {
            if !cap.is_provided() {
                problems.push(format!(
                    "declares capability `{cap}`, which this host version does not provide"
                ));
            } else if !covers_all(&granted, cap) {
                problems.push(format!(
                    "declares capability `{cap}`, which the operator has not granted \
                     (add \"{cap}\" under [grants] {plugin:?} in the config)"
                ));
            } else {
                match cap {
                    Capability::DevicesRead => grant.devices_read = true,
                    // The narrower of declared and granted: what it declared.
                    Capability::Ssh(declared_programs) => {
                        programs.extend(declared_programs.iter().cloned());
                    }
                    Capability::Store(_) | Capability::Metrics => {}
                }
            }
        }
        grant.ssh_programs = Arc::new(programs);
        if problems.is_empty() {
            Ok(grant)
        } else {
            Err(problems)
        }
    }
}

/// Whether the grants together cover a declared capability: list-valued
/// grants of one family combine (`ssh:cat` and `ssh:ls` cover `ssh:cat,ls`).
fn covers_all(granted: &[Capability], declared: &Capability) -> bool {
    let union = |pick: fn(&Capability) -> Option<&BTreeSet<String>>| -> BTreeSet<String> {
        granted.iter().filter_map(pick).flatten().cloned().collect()
    };
    match declared {
        Capability::Ssh(d) => d.is_subset(&union(|g| match g {
            Capability::Ssh(p) => Some(p),
            _ => None,
        })),
        Capability::Store(d) => d.is_subset(&union(|g| match g {
            Capability::Store(c) => Some(c),
            _ => None,
        })),
        other => granted.iter().any(|g| covers(g, other)),
    }
}

/// Whether a granted capability covers a declared one.
fn covers(granted: &Capability, declared: &Capability) -> bool {
    match (granted, declared) {
        (Capability::Ssh(g), Capability::Ssh(d)) | (Capability::Store(g), Capability::Store(d)) => {
            d.is_subset(g)
        }
        (g, d) => g == d,
    }
}

/// The effective, per-plugin grant the host functions consult.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grant {
    /// May call `devices.list` / `devices.get`.
    pub devices_read: bool,
    /// Programs (argv\[0\]) `ssh.exec` may run.
    pub ssh_programs: Arc<BTreeSet<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_every_capability_form() {
        let table: &[(&str, Result<Capability, &str>)] = &[
            ("devices-read", Ok(Capability::DevicesRead)),
            ("metrics", Ok(Capability::Metrics)),
            (
                "ssh:docker,zpool",
                Ok(Capability::Ssh(set(&["docker", "zpool"]))),
            ),
            ("store:tasks", Ok(Capability::Store(set(&["tasks"])))),
            ("ssh", Err("needs a list after ':'")),
            ("ssh:", Err("the list after ':' is empty")),
            ("metrics:x", Err("takes no list")),
            ("filesystem", Err("unknown capability")),
        ];
        for (text, want) in table {
            let got = text.parse::<Capability>().map_err(|e| e.reason);
            assert_eq!(&got, want, "{text}");
        }
    }

    #[test]
    fn grants_declared_capabilities_the_operator_allowed() {
        let policy = GrantPolicy::bundled_defaults();
        let grant = policy
            .resolve("utility", &[Capability::DevicesRead])
            .expect("granted");
        assert!(grant.devices_read);
    }

    #[test]
    fn refuses_declared_capabilities_not_granted() {
        let policy = GrantPolicy::bundled_defaults();
        let problems = policy
            .resolve("stranger", &[Capability::DevicesRead])
            .expect_err("not granted");
        assert_eq!(problems.len(), 1);
        assert!(problems[0].contains("has not granted"), "{problems:?}");
    }

    #[test]
    fn refuses_capabilities_this_host_does_not_provide_and_reports_all() {
        let mut policy = GrantPolicy::default();
        policy.set("p", vec!["store:tasks".into(), "metrics".into()]);
        let problems = policy
            .resolve(
                "p",
                &[Capability::Store(set(&["tasks"])), Capability::Metrics],
            )
            .expect_err("not provided");
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems.iter().all(|p| p.contains("does not provide")));
    }

    #[test]
    fn the_ssh_grant_is_what_the_plugin_declared_within_what_was_granted() {
        let mut policy = GrantPolicy::default();
        policy.set("p", vec!["ssh:cat,df,ip".into()]);
        let grant = policy
            .resolve("p", &[Capability::Ssh(set(&["cat", "df"]))])
            .expect("granted");
        assert_eq!(*grant.ssh_programs, set(&["cat", "df"]));
        let problems = policy
            .resolve("p", &[Capability::Ssh(set(&["cat", "rm"]))])
            .expect_err("rm not granted");
        assert_eq!(problems.len(), 1);
    }

    #[test]
    fn ssh_grant_covers_only_a_subset_of_programs() {
        let g = Capability::Ssh(set(&["docker", "zpool"]));
        assert!(covers(&g, &Capability::Ssh(set(&["docker"]))));
        assert!(!covers(&g, &Capability::Ssh(set(&["docker", "rm"]))));
        assert!(!covers(&g, &Capability::DevicesRead));
    }

    #[test]
    fn grant_entries_of_one_family_combine() {
        let mut policy = GrantPolicy::default();
        policy.set("p", vec!["ssh:cat".into(), "ssh:ls".into()]);
        let grant = policy
            .resolve("p", &[Capability::Ssh(set(&["cat", "ls"]))])
            .expect("granted by the two entries together");
        assert_eq!(*grant.ssh_programs, set(&["cat", "ls"]));
    }

    #[test]
    fn plugins_without_grants_get_nothing() {
        let grant = GrantPolicy::default().resolve("anyone", &[]).expect("ok");
        assert_eq!(grant, Grant::default());
    }
}
