"""An independent OCSF structure check against the OCSF schema itself.

The schema is the OCSF 1.7.0 source as packaged by ``pydantic-ocsf`` (a dev dependency,
Apache-2.0; ``ocsf/schemas/v1_7_0.json``: the schema repository's events, objects and
dictionary). This module resolves ``extends`` chains and checks an event the way the schema
defines it: every required attribute present, no attribute the class or object does not define,
value types per the dictionary, enum values, ``at_least_one`` constraints, and
``type_uid = class_uid * 100 + activity_id``. Profile-scoped attributes (``profile`` set) are not
required, as no profile is applied.

It is deliberately not the product's code: the product renders, this checks.
"""

from __future__ import annotations

import json
import os
from functools import cache
from typing import Any

CATEGORY_UIDS = {"findings": 2, "discovery": 5, "application": 6, "system": 1, "network": 4, "iam": 3}


@cache
def schema() -> dict[str, Any]:
    import ocsf  # pydantic-ocsf

    path = os.path.join(os.path.dirname(ocsf.__file__), "schemas", "v1_7_0.json")
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def _chain(table: dict[str, Any], name: str) -> list[dict[str, Any]]:
    out = []
    current: str | None = name
    while current:
        item = table[current]
        out.append(item)
        current = item.get("extends")
        if current == "object" and "object" not in table:
            break
    return list(reversed(out))


def _merge_attributes(chain: list[dict[str, Any]]) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    dictionary = schema()["dictionary"]["attributes"]
    merged: dict[str, dict[str, Any]] = {}
    constraints = []
    for item in chain:
        for attr, spec in item.get("attributes", {}).items():
            if attr.startswith("$"):
                continue
            base = dict(merged.get(attr) or dictionary.get(attr) or {})
            enum = dict(base.get("enum") or {})
            enum.update(spec.get("enum") or {})
            base.update({k: v for k, v in spec.items() if k != "enum"})
            if enum:
                base["enum"] = enum
            merged[attr] = base
        if item.get("constraints"):
            constraints.append(item["constraints"])
    return merged, constraints


@cache
def event_spec(class_name: str) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]], int]:
    events = schema()["events"]
    chain = _chain(events, class_name)
    attrs, constraints = _merge_attributes(chain)
    category = next(item["category"] for item in reversed(chain) if item.get("category"))
    uid = CATEGORY_UIDS[category] * 1000 + int(events[class_name]["uid"])
    return attrs, constraints[-1:] if constraints else [], uid


@cache
def object_spec(name: str) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    attrs, constraints = _merge_attributes(_chain(schema()["objects"], name))
    return attrs, constraints[-1:] if constraints else []


# Computed identifiers: the base event's enums list only 0; validate_event checks them itself.
UID_PATHS = frozenset({"event.class_uid", "event.category_uid", "event.type_uid"})

SCALARS: dict[str, tuple[type, ...]] = {
    "integer_t": (int,),
    "long_t": (int,),
    "timestamp_t": (int,),
    "port_t": (int,),
    "float_t": (int, float),
    "boolean_t": (bool,),
}


def _check_value(path: str, value: Any, spec: dict[str, Any], errors: list[str]) -> None:
    type_name = spec.get("type", "string_t")
    if spec.get("is_array"):
        if not isinstance(value, list):
            errors.append(f"{path}: expected an array")
            return
        for index, item in enumerate(value):
            _check_scalar_or_object(f"{path}[{index}]", item, type_name, spec, errors)
    else:
        _check_scalar_or_object(path, value, type_name, spec, errors)


def _check_scalar_or_object(
    path: str, value: Any, type_name: str, spec: dict[str, Any], errors: list[str]
) -> None:
    objects = schema()["objects"]
    if type_name == "json_t":
        return
    if type_name in objects or type_name == "object":
        if not isinstance(value, dict):
            errors.append(f"{path}: expected an object ({type_name})")
            return
        if type_name == "object":
            return  # free-form (unmapped)
        attrs, constraints = object_spec(type_name)
        _check_object(path, value, attrs, constraints, errors)
        return
    expected = SCALARS.get(type_name, (str,))
    if bool in expected:
        ok = isinstance(value, bool)
    else:
        ok = isinstance(value, expected) and not isinstance(value, bool)
    if not ok:
        errors.append(f"{path}: {value!r} is not a {type_name}")
    enum = spec.get("enum")
    if enum and path not in UID_PATHS and str(value) not in enum:
        errors.append(f"{path}: {value!r} is not one of {sorted(enum)}")


def _check_object(
    path: str,
    value: dict[str, Any],
    attrs: dict[str, dict[str, Any]],
    constraints: list[dict[str, Any]],
    errors: list[str],
) -> None:
    for name, spec in attrs.items():
        if spec.get("requirement") == "required" and not spec.get("profile") and name not in value:
            errors.append(f"{path}.{name}: required attribute missing")
    for name, item in value.items():
        if name not in attrs:
            errors.append(f"{path}.{name}: not an attribute of this object")
            continue
        if item is None:
            errors.append(f"{path}.{name}: null (omit the attribute instead)")
            continue
        _check_value(f"{path}.{name}", item, attrs[name], errors)
    for constraint in constraints:
        wanted = constraint.get("at_least_one")
        if wanted and not any(key in value for key in wanted):
            errors.append(f"{path}: needs at least one of {wanted}")


def validate_event(event: dict[str, Any], class_name: str) -> list[str]:
    """Problems of ``event`` as an OCSF 1.7.0 ``class_name`` event (empty list: valid)."""
    attrs, constraints, class_uid = event_spec(class_name)
    errors: list[str] = []
    _check_object("event", event, attrs, constraints, errors)
    if event.get("class_uid") != class_uid:
        errors.append(f"class_uid {event.get('class_uid')} is not {class_name}'s {class_uid}")
    if event.get("category_uid") != class_uid // 1000:
        errors.append(f"category_uid {event.get('category_uid')} does not match class {class_uid}")
    if event.get("type_uid") != class_uid * 100 + int(event.get("activity_id", -1)):
        errors.append(f"type_uid {event.get('type_uid')} != class_uid * 100 + activity_id")
    return errors


CLASS_NAMES = {
    2004: "detection_finding",
    2006: "data_security_finding",
    2007: "application_security_posture_finding",
    5023: "cloud_resources_inventory_info",
}


def assert_valid(event: dict[str, Any]) -> None:
    problems = validate_event(event, CLASS_NAMES[event["class_uid"]])
    assert not problems, "\n".join(problems)
