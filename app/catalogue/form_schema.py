"""The form schema a procedure version may carry: a small, flat JSON Schema subset that the dossier's form is
checked against (app.dossiers.formcheck)."""

from __future__ import annotations

from typing import Any

from app.core.jsondoc import json_document

_FORM_TYPES = frozenset({"string", "number", "integer", "boolean"})

MAX_FORM_SCHEMA_BYTES = 64 * 1024


def _check_bounds(name: str, prop: dict[str, Any]) -> None:
    """The bounds a dossier's form is checked against (app.dossiers.formcheck) must be numbers: a text or list
    `maxLength` used to be stored, then made every filing under the version fail with a 500."""
    for key in ("minLength", "maxLength"):
        value = prop.get(key)
        if type(value) is float and value.is_integer() and 0 <= value <= 2**53:
            prop[key] = value = int(value)  # JSON Schema counts 5.0 as an integer; stored as one
        if key in prop and (type(value) is not int or value < 0):
            raise ValueError(f"property {name!r}: {key} must be a non-negative integer")
    for key in ("minimum", "maximum"):
        if key in prop and (isinstance(prop[key], bool) or not isinstance(prop[key], int | float)):
            raise ValueError(f"property {name!r}: {key} must be a number")


def check_form_schema(schema: dict[str, Any] | None) -> dict[str, Any] | None:
    """A flat JSON Schema object: string (optionally format date), number, integer, boolean or enum properties.

    Only ValueError may leave this function (pydantic turns it into a 422 on the field; anything else is a 500),
    so each value is checked for its JSON kind before it is hashed or compared: JSON Schema allows
    `"type": ["string", "null"]` and other shapes this subset refuses, and a set lookup of a list raised
    TypeError."""
    if schema is None:
        return None
    json_document(schema, max_bytes=MAX_FORM_SCHEMA_BYTES)
    if schema.get("type") != "object" or not isinstance(schema.get("properties"), dict):
        raise ValueError("form_schema must be a JSON Schema with type 'object' and 'properties'")
    properties: dict[str, Any] = schema["properties"]
    for name, prop in properties.items():
        if not isinstance(prop, dict):
            raise ValueError(f"property {name!r} must be an object")
        kind = prop.get("type")
        if "enum" in prop:
            if not isinstance(prop["enum"], list) or not prop["enum"]:
                raise ValueError(f"property {name!r}: enum must be a non-empty list")
        elif not isinstance(kind, str) or kind not in _FORM_TYPES:
            raise ValueError(f"property {name!r}: type must be one of {sorted(_FORM_TYPES)} (one name, not a "
                             "list) or an enum")
        if prop.get("format") not in (None, "date") or ("format" in prop and kind != "string"):
            raise ValueError(f"property {name!r}: only string properties may have format 'date'")
        _check_bounds(name, prop)
    if "additionalProperties" in schema and not isinstance(schema["additionalProperties"], bool):
        raise ValueError("form_schema.additionalProperties must be true or false")
    required = schema.get("required", [])
    if not isinstance(required, list) or any(not isinstance(r, str) or r not in properties for r in required):
        raise ValueError("form_schema.required must list names of its properties")
    return schema
