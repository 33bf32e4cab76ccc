"""The dossier form checked against its procedure version's `form_schema`.

The catalogue allows a small, flat JSON Schema subset (app.catalogue.form_schema.check_form_schema): string
(optionally `format: date`), number, integer, boolean, enum, `required`, and optionally
`additionalProperties: false`. Checking that subset by hand is a few lines and reports every failing field.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from app.core.clock import ISO_DAY


def _type_error(prop: dict[str, Any], value: Any) -> str | None:
    if "enum" in prop:  # true is not 1 in JSON, though it is in Python
        allowed = any(value == option and isinstance(value, bool) == isinstance(option, bool)
                      for option in prop["enum"])
        return None if allowed else f"must be one of {prop['enum']}"
    kind = prop.get("type")
    if kind == "string":
        if not isinstance(value, str):
            return "must be a string"
        if prop.get("format") == "date":
            try:
                date.fromisoformat(value)
            except ValueError:
                return "must be a date (YYYY-MM-DD)"
            if not ISO_DAY.fullmatch(value):  # date.fromisoformat also takes week dates (2024-W01-1)
                return "must be a date (YYYY-MM-DD)"
        if "maxLength" in prop and len(value) > int(prop["maxLength"]):
            return f"must be at most {prop['maxLength']} characters"
        if "minLength" in prop and len(value) < int(prop["minLength"]):
            return f"must be at least {prop['minLength']} characters"
        return None
    if kind == "boolean":
        return None if isinstance(value, bool) else "must be true or false"
    if kind in ("number", "integer"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"must be a{'n integer' if kind == 'integer' else ' number'}"
        if kind == "integer" and not (isinstance(value, int) or float(value).is_integer()):
            return "must be an integer"
        if "minimum" in prop and value < prop["minimum"]:
            return f"must be at least {prop['minimum']}"
        if "maximum" in prop and value > prop["maximum"]:
            return f"must be at most {prop['maximum']}"
    return None


def form_errors(schema: dict[str, Any] | None, form: dict[str, Any], *,
                loc: tuple[str, ...] = ("body", "form"), partial: bool = False) -> list[dict[str, Any]]:
    """Every problem with `form`, as problem `errors` entries; empty when the form is valid. `partial`: a draft's
    form, which may still lack required fields (they are required when it is submitted), but whose values must
    each be valid."""
    if not schema:
        return []
    properties: dict[str, Any] = schema.get("properties", {})
    errors: list[dict[str, Any]] = []
    for name in [] if partial else schema.get("required", []):
        value = form.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):  # blanks fill nothing
            errors.append({"loc": [*loc, name], "msg": "field required", "type": "missing"})
    for name, value in form.items():
        prop = properties.get(name)
        if prop is None:
            if schema.get("additionalProperties") is False:
                errors.append({"loc": [*loc, name], "msg": "unknown field", "type": "extra_forbidden"})
            continue
        if value is None:
            continue
        message = _type_error(prop, value)
        if message:
            errors.append({"loc": [*loc, name], "msg": message, "type": "invalid"})
    return errors
