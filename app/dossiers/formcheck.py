"""The dossier form checked against its procedure version's `form_schema`.

The catalogue allows a small, flat JSON Schema subset (app.catalogue.form_schema.check_form_schema): string
(optionally `format: date`), number, integer, boolean, enum, `required`, and optionally
`additionalProperties: false`. Checking that subset by hand is a few lines and reports every failing field.

JSON Schema counts a number with a zero fraction (`234.0`) as an integer, so an `integer` field takes one; it is
stored as the integer it names (`normalised_form`), so that every reader of the form gets an int.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from app.core.clock import ISO_DAY

# Up to 2**53 every integer is exactly one float; beyond it a float with a zero fraction no longer names the
# integer the client meant (1e300 would be stored as 301 invented digits), so it is left as sent.
_SAFE_INTEGER = 2**53


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


def _as_declared(prop: dict[str, Any], value: Any) -> Any:
    """`value` as the field declares it: a float with a zero fraction in an integer field (or matching an integer
    option of an enum) becomes that integer."""
    if not isinstance(value, float) or not value.is_integer() or abs(value) > _SAFE_INTEGER:
        return value
    if "enum" in prop:
        option = next((o for o in prop["enum"] if type(o) is int and o == value), None)
        return value if option is None else option
    return int(value) if prop.get("type") == "integer" else value


def normalised_form(schema: dict[str, Any] | None, form: dict[str, Any]) -> dict[str, Any]:
    """The form as stored, for a form `form_errors` found valid: integers in the fields that hold integers."""
    properties: dict[str, Any] = (schema or {}).get("properties", {})
    out = {name: _as_declared(properties[name], value) if isinstance(properties.get(name), dict) else value
           for name, value in form.items()}
    return out
