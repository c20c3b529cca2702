"""Spec import validates documents with openapi-spec-validator: a fault in what the import reads
refuses the document with a clear error; other deviations come back as warnings."""

from __future__ import annotations

import copy
import socket
from typing import Any

import pytest

from analyzer.inventory.spec_validation import validate_structure
from analyzer.inventory.specs import SpecError, parse_spec

BASE: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "Orders", "version": "1"},
    "servers": [{"url": "https://orders.example/v1"}],
    "paths": {
        "/orders/{id}": {
            "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "get": {"responses": {"200": {"description": "ok"}}},
        }
    },
}


def doc(**changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(BASE)
    for dotted, value in changes.items():
        node = out
        *parents, last = dotted.split(".")
        for key in parents:
            node = node[key.replace("~", "/")]
        node[last.replace("~", "/")] = value
    return out


def parse(document: dict[str, Any]) -> Any:
    import json

    return parse_spec(json.dumps(document).encode(), source="t.json")


def test_a_valid_document_has_neither_errors_nor_warnings() -> None:
    assert validate_structure(BASE).errors == () and validate_structure(BASE).warning_count == 0
    assert parse(BASE).warnings == ()


@pytest.mark.parametrize(
    ("changes", "where"),
    [
        ({"paths.~orders~{id}.parameters": [{"in": "path"}]}, "/paths/~1orders~1{id}/parameters/0"),
        ({"paths.~orders~{id}.parameters": {"id": 1}}, "/paths/~1orders~1{id}/parameters"),
        ({"paths.~orders~{id}.get.parameters": [{"name": "q", "in": "body?"}]}, "parameters/0"),
        ({"components": []}, "/components"),
        ({"tags": {"a": 1}}, "/tags"),
    ],
)
def test_structural_faults_refuse_the_document(changes: dict[str, Any], where: str) -> None:
    with pytest.raises(SpecError, match="not a valid OpenAPI 3.0.3 document") as exc:
        parse(doc(**changes))
    assert where in str(exc.value)


def test_deviations_outside_the_skeleton_are_warnings() -> None:
    lax = doc(**{"info.logo": {"url": "x"}, "paths.~orders~{id}.get.responses": {}})
    del lax["info"]["version"]
    spec = parse(lax)
    assert spec.title == "Orders" and [op.path_template for op in spec.operations] == ["/v1/orders/{id}"]
    assert spec.warning_count >= 3
    assert any(w.startswith("/info") for w in spec.warnings)
    assert any("/responses" in w for w in spec.warnings)


def test_swagger_2_and_openapi_3_1_are_checked_against_their_own_schema() -> None:
    swagger = {"swagger": "2.0", "info": {"title": "B", "version": "1"}, "paths": {
        "/a": {"get": {"parameters": [{"name": "x"}], "responses": {"200": {"description": "ok"}}}}}}
    with pytest.raises(SpecError, match="not a valid OpenAPI 2.0 document"):
        parse(swagger)
    openapi_31 = {"openapi": "3.1.0", "info": {"title": "W", "version": "1"}, "webhooks": {}}
    assert parse(openapi_31).operations == []


def test_validation_fetches_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """A $ref to elsewhere is not resolved: importing a document never opens a connection."""

    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("spec validation tried to open a connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    remote = doc(**{"paths.~orders~{id}.get.responses": {"200": {"$ref": "http://127.0.0.1:9/r.yaml#/x"}}})
    assert parse(remote).title == "Orders"
