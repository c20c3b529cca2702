from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.protocols.graphql import extract_operations, operations_of_document, response_summary

JSON = (("Content-Type", "application/json"),)


def test_named_operation_with_variables_and_arguments() -> None:
    body = json.dumps({"query": "query GetUser($id: ID!) { user(id: $id) { email posts(first: 5) { title } } }",
                       "operationName": "GetUser", "variables": {"id": "u1"}}).encode()
    (op,) = extract_operations("POST", "/graphql", JSON, body)
    assert op.label == "query GetUser" and op.root_fields == ("user",)
    params = {p.name: p for p in op.parameters}
    assert params["$id"].value == "u1" and params["$id"].type == "ID!"
    assert params["user.id"].value == "$id" and params["user.posts.first"].value == "5"
    assert (op.depth, op.width, op.introspection) == (3, 2, False)


def test_batched_anonymous_and_operation_name_selects() -> None:
    body = json.dumps([{"query": "{ me { id } }"}, {"query": "mutation A { a } mutation B { b }",
                                                     "operationName": "B"}]).encode()
    ops = extract_operations("POST", "/graphql", JSON, body)
    assert [o.label for o in ops] == ["query {me}", "mutation B"] and [o.batch_index for o in ops] == [0, 1]


def test_get_query_and_application_graphql_and_introspection() -> None:
    (op,) = extract_operations("GET", "/graphql?query=%7B__schema%7Btypes%7Bname%7D%7D%7D", (), b"")
    assert op.introspection
    (op,) = extract_operations("POST", "/gql", (("content-type", "application/graphql"),), b"subscription { ticks }")
    assert op.operation_type == "subscription"
    assert extract_operations("POST", "/api", JSON, b'{"name": "not graphql"}') == []


def test_fragments_count_toward_depth_and_cycles_stop() -> None:
    (op,) = operations_of_document("query { a { ...F } } fragment F on A { b { c { ...F } } }")
    assert op.depth >= 3 and op.error is None


def test_bad_document_is_an_error_field() -> None:
    (op,) = operations_of_document("query { a(")
    assert op.error and op.operation_type is None


def test_response_paths_and_errors() -> None:
    (r,) = response_summary(b'{"data": {"user": {"posts": [{"title": "t"}]}}, "errors": [{"message": "denied"}]}')
    assert r.data_paths == ("user", "user.posts", "user.posts[].title") and r.errors == 1
    assert r.error_messages == ("denied",)
    assert response_summary(b"not json") == []


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_fuzz(text: str) -> None:
    operations_of_document(text)
    extract_operations("POST", "/graphql", JSON, json.dumps({"query": text}).encode())
    response_summary(text.encode())
