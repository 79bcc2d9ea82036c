"""JSON Schemas generated from the typed configuration classes, so the shipped schema cannot drift."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from importlib import resources
from typing import Any

SCHEMA_FILES = {"network": "network.schema.json", "server": "server.schema.json", "scenario": "scenario.schema.json"}


def _schema_for(hint: Any, definitions: dict[str, Any]) -> dict[str, Any]:
    origin = typing.get_origin(hint)
    if hint is Any:
        return {}
    if origin in (typing.Union, types.UnionType):
        options = [_schema_for(option, definitions) for option in typing.get_args(hint)]
        return {"anyOf": options}
    if hint is type(None):
        return {"type": "null"}
    if dataclasses.is_dataclass(hint):
        name = hint.__name__
        if name not in definitions:
            definitions[name] = {}  # placeholder against recursion
            hints = typing.get_type_hints(hint)
            properties = {}
            required = []
            for f in dataclasses.fields(hint):
                # A field whose loose type is validated by its own code says what its schema is.
                prop = f.metadata["schema"]() if "schema" in f.metadata else _schema_for(hints[f.name], definitions)
                if f.default is not dataclasses.MISSING and f.default is not None and not callable(f.default):
                    prop["default"] = f.default
                properties[f.name] = prop
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                    required.append(f.name)
            definitions[name] = {
                "type": "object",
                "description": (hint.__doc__ or "").strip().splitlines()[0],
                "properties": properties,
                "required": required,
                "additionalProperties": False,
            }
        return {"$ref": f"#/$defs/{name}"}
    if origin is list:
        (item,) = typing.get_args(hint)
        return {"type": "array", "items": _schema_for(item, definitions)}
    if origin is dict:
        _, value = typing.get_args(hint)
        return {"type": "object", "additionalProperties": _schema_for(value, definitions)}
    simple = {str: "string", int: "integer", float: "number", bool: "boolean"}
    if hint in simple:
        return {"type": simple[hint]}
    raise TypeError(f"no JSON Schema mapping for {hint!r}")


def json_schema(cls: type, title: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a configuration dataclass."""
    definitions: dict[str, Any] = {}
    root = _schema_for(cls, definitions)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": title, **root, "$defs": definitions}


def generated_schemas() -> dict[str, dict[str, Any]]:
    """Every shipped schema, generated now from the code."""
    from .config import ServerConfig
    from .harness.scenario import scenario_schema
    from .network.profile import NetworkProfile

    return {
        "network": json_schema(NetworkProfile, "smsc-sim network profile"),
        "server": json_schema(ServerConfig, "smsc-sim server configuration"),
        "scenario": scenario_schema(),
    }


def shipped_schema(name: str) -> dict[str, Any]:
    """A schema as shipped in the package (simulator/schemas/)."""
    return json.loads((resources.files("simulator") / "schemas" / SCHEMA_FILES[name]).read_text(encoding="utf-8"))


def write_schemas() -> None:
    """Regenerate the shipped schema files (run after changing a configuration class)."""
    folder = resources.files("simulator") / "schemas"
    for name, schema in generated_schemas().items():
        (folder / SCHEMA_FILES[name]).write_text(json.dumps(schema, indent=2) + "\n", encoding="utf-8")  # type: ignore[union-attr]


if __name__ == "__main__":  # pragma: no cover - developer tool: python -m simulator.schema
    write_schemas()
