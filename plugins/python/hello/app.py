"""The `py-hello` plugin: a toolhost plugin written in Python.

Built with componentize-py against world `plugin` of `wit/plugin.wit`
(see ../../build.sh). componentize-py looks for a class named after each
exported interface, so `Tools` here implements the `tools` export.
"""

import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import context
from wit_world.imports.types import (
    Content_Text,
    ErrorKind,
    PluginInfo,
    ToolAnnotations,
    ToolError,
    ToolInfo,
    ToolOutput,
)

READ_ONLY = ToolAnnotations(read_only=True, destructive=False, idempotent=True, open_world=False)


def _object_schema(properties: dict, required: list) -> str:
    return json.dumps(
        {
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": False,
        }
    )


def _tool(name: str, description: str, input_schema: str, output_schema=None) -> ToolInfo:
    return ToolInfo(
        name=name,
        title=None,
        description=description,
        input_schema=input_schema,
        output_schema=output_schema,
        annotations=READ_ONLY,
        cache_ttl_ms=None,
    )


def _fail(kind: ErrorKind, message: str) -> Err:
    return Err(ToolError(kind=kind, message=message))


class Tools(exports.Tools):
    def describe(self) -> PluginInfo:
        return PluginInfo(
            name="py-hello",
            version="0.1.0",
            description="Example plugin written in Python.",
            tools=[
                _tool(
                    "py_greet",
                    "Greet someone by name.",
                    _object_schema({"name": {"type": "string"}}, ["name"]),
                ),
                _tool(
                    "py_word_count",
                    "Count the whitespace-separated words in a text.",
                    _object_schema({"text": {"type": "string"}}, ["text"]),
                    json.dumps(
                        {
                            "type": "object",
                            "properties": {"words": {"type": "integer", "minimum": 0}},
                            "required": ["words"],
                        }
                    ),
                ),
            ],
            capabilities=[],
            resources=[],
            resource_templates=[],
            prompts=[],
            collectors=[],
        )

    def call(self, tool: str, args_json: str) -> ToolOutput:
        try:
            args = json.loads(args_json)
        except ValueError as e:
            raise _fail(ErrorKind.INVALID_INPUT, f"invalid arguments: {e}")
        if tool == "py_greet":
            return self._greet(args)
        if tool == "py_word_count":
            return self._word_count(args)
        raise _fail(ErrorKind.INVALID_INPUT, f"unknown tool `{tool}`")

    @staticmethod
    def _greet(args: dict) -> ToolOutput:
        name = args.get("name")
        if not isinstance(name, str):
            raise _fail(ErrorKind.INVALID_INPUT, "`name` must be a string")
        subject = context.caller().subject
        context.log(context.LogLevel.INFO, f"greeting {name}")
        text = f"Hello, {name}! (from Python, caller {subject})"
        return ToolOutput(content=[Content_Text(text)], structured=None)

    @staticmethod
    def _word_count(args: dict) -> ToolOutput:
        text = args.get("text")
        if not isinstance(text, str):
            raise _fail(ErrorKind.INVALID_INPUT, "`text` must be a string")
        body = json.dumps({"words": len(text.split())})
        return ToolOutput(content=[Content_Text(body)], structured=body)
