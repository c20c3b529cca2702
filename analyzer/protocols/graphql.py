"""GraphQL operations out of HTTP exchanges (pure functions, graphql-core's parser).

A request is GraphQL when its body is JSON with a string ``query`` (a single object or a batched
array), its Content-Type is ``application/graphql``, or a GET carries ``?query=``. Each
operation of the document that is executed (the one ``operationName`` names, else every
operation when there is one) becomes a ``GraphQLOperation``: type, name (or the root fields when
anonymous), variables and field arguments as parameters, depth and width, and whether it is an
introspection query. A response's ``data`` paths and ``errors`` count come from
``response_summary``. Nothing here raises on bad input: a document that does not parse is an
operation with ``error`` set.
"""

from __future__ import annotations

import json
import urllib.parse
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLError, parse
from graphql.language import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    print_ast,
)

MAX_DOCUMENT = 256 * 1024  # longer documents are not parsed (a parser DoS is not our job)
MAX_BATCH = 100
MAX_PATHS = 2000
MAX_WALK = 10_000  # selections visited per operation (fragment cycles and huge queries)


@dataclass(frozen=True, slots=True)
class GraphQLParameter:
    name: str  # "$id" for a variable, "user.id" for an argument (field path . argument)
    location: str  # "variable" or "argument"
    value: Any  # variable value from the request, or the literal argument (printed)
    type: str | None = None  # declared variable type, e.g. "ID!"


@dataclass(frozen=True, slots=True)
class GraphQLOperation:
    operation_type: str | None  # "query", "mutation", "subscription"
    name: str | None  # operation name, else None
    root_fields: tuple[str, ...]
    parameters: tuple[GraphQLParameter, ...]
    depth: int  # deepest field nesting (a root field is depth 1)
    width: int  # most fields selected at one level
    field_count: int
    introspection: bool  # selects __schema or __type (the schema dump)
    batch_index: int = 0
    error: str | None = None  # the document did not parse

    @property
    def label(self) -> str:
        """What the endpoint is called: ``query getUser`` or ``query {user,posts}`` when anonymous."""
        kind = self.operation_type or "operation"
        if self.name:
            return f"{kind} {self.name}"
        return f"{kind} {{{','.join(self.root_fields)}}}" if self.root_fields else kind


@dataclass(frozen=True, slots=True)
class GraphQLResponse:
    data_paths: tuple[str, ...]  # "user.posts[].title"
    errors: int
    error_messages: tuple[str, ...]


def _header(headers: tuple[tuple[str, str], ...] | list[tuple[str, str]], name: str) -> str | None:
    for k, v in headers:
        if k.lower() == name:
            return v
    return None


def requests_of(method: str | None, target: str | None, content_type: str | None,
                body: bytes) -> list[tuple[str, str | None, Any]]:
    """(document, operationName, variables) per GraphQL request carried by an HTTP request."""
    out: list[tuple[str, str | None, Any]] = []
    ctype = (content_type or "").split(";")[0].strip().lower()
    if target and "?" in target and (method or "GET").upper() == "GET":
        qs = urllib.parse.parse_qs(target.split("?", 1)[1], keep_blank_values=True)
        if "query" in qs and qs["query"][0].strip():
            variables: Any = None
            if "variables" in qs:
                try:
                    variables = json.loads(qs["variables"][0])
                except (ValueError, RecursionError):  # RecursionError: nested too deep
                    variables = None
            out.append((qs["query"][0], qs.get("operationName", [None])[0] or None, variables))
            return out
    if not body:
        return out
    if ctype == "application/graphql":
        out.append((body.decode("utf-8", "replace"), None, None))
        return out
    stripped = body.lstrip()
    if stripped[:1] not in (b"{", b"["):
        return out
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nested too deep
        return out
    items = payload if isinstance(payload, list) else [payload]
    for item in items[:MAX_BATCH]:
        if isinstance(item, dict) and isinstance(item.get("query"), str):
            name = item.get("operationName")
            out.append((item["query"], name if isinstance(name, str) else None, item.get("variables")))
    return out


def is_graphql_request(method: str | None, target: str | None, content_type: str | None, body: bytes) -> bool:
    return bool(requests_of(method, target, content_type, body))


def extract_operations(method: str | None, target: str | None, headers: tuple[tuple[str, str], ...],
                       body: bytes) -> list[GraphQLOperation]:
    """Every operation an HTTP request asks to execute (empty when it is not GraphQL)."""
    ops: list[GraphQLOperation] = []
    for index, (document, op_name, variables) in enumerate(
            requests_of(method, target, _header(headers, "content-type"), body)):
        ops.extend(operations_of_document(document, op_name, variables, batch_index=index))
    return ops


def operations_of_document(document: str, operation_name: str | None = None, variables: Any = None,
                           *, batch_index: int = 0) -> list[GraphQLOperation]:
    if len(document) > MAX_DOCUMENT:
        return [GraphQLOperation(None, operation_name, (), (), 0, 0, 0, False, batch_index, "document too large")]
    try:
        doc = parse(document, no_location=True, max_tokens=50_000)
    except (GraphQLError, RecursionError) as exc:
        message = exc.message if isinstance(exc, GraphQLError) else "nesting too deep"
        return [GraphQLOperation(None, operation_name, (), (), 0, 0, 0, False, batch_index, message)]
    fragments = {d.name.value: d for d in doc.definitions if isinstance(d, FragmentDefinitionNode)}
    operations = [d for d in doc.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name:
        chosen = [o for o in operations if o.name is not None and o.name.value == operation_name] or operations
    else:
        chosen = operations
    vars_in = variables if isinstance(variables, dict) else {}
    return [_operation(op, fragments, vars_in, batch_index) for op in chosen]


class _Walk:
    def __init__(self, fragments: dict[str, FragmentDefinitionNode]) -> None:
        self.fragments = fragments
        self.depth = 0
        self.width = 0
        self.fields = 0
        self.visited = 0
        self.introspection = False
        self.arguments: list[GraphQLParameter] = []

    def selections(self, node: SelectionSetNode | None, depth: int, path: str, seen: frozenset[str]) -> int:
        """Walk one selection set; returns the number of fields at this level (fragments flattened)."""
        if node is None or self.visited > MAX_WALK:
            return 0
        count = 0
        for sel in node.selections:
            self.visited += 1
            if isinstance(sel, FieldNode):
                count += 1
                self.fields += 1
                name = sel.name.value
                if name in ("__schema", "__type"):
                    self.introspection = True
                self.depth = max(self.depth, depth)
                field_path = f"{path}.{name}" if path else name
                for arg in sel.arguments or ():
                    value: Any = (f"${arg.value.name.value}" if isinstance(arg.value, VariableNode)
                                  else print_ast(arg.value))
                    self.arguments.append(GraphQLParameter(f"{field_path}.{arg.name.value}", "argument", value))
                if sel.selection_set is not None:
                    self.width = max(self.width, self.selections(sel.selection_set, depth + 1, field_path, seen))
            elif isinstance(sel, InlineFragmentNode):
                count += self.selections(sel.selection_set, depth, path, seen)
            elif isinstance(sel, FragmentSpreadNode):
                frag = self.fragments.get(sel.name.value)
                if frag is not None and sel.name.value not in seen:
                    count += self.selections(frag.selection_set, depth, path, seen | {sel.name.value})
        self.width = max(self.width, count)
        return count


def _operation(op: OperationDefinitionNode, fragments: dict[str, FragmentDefinitionNode],
               variables: dict[str, Any], batch_index: int) -> GraphQLOperation:
    walk = _Walk(fragments)
    roots: list[str] = []
    for sel in op.selection_set.selections:
        if isinstance(sel, FieldNode):
            roots.append(sel.name.value)
    walk.selections(op.selection_set, 1, "", frozenset())
    params: list[GraphQLParameter] = []
    for var in op.variable_definitions or ():
        name = var.variable.name.value
        params.append(GraphQLParameter(f"${name}", "variable", variables.get(name), print_ast(var.type)))
    params.extend(walk.arguments)
    return GraphQLOperation(
        operation_type=op.operation.value,
        name=op.name.value if op.name is not None else None,
        root_fields=tuple(dict.fromkeys(roots)),
        parameters=tuple(params),
        depth=walk.depth,
        width=walk.width,
        field_count=walk.fields,
        introspection=walk.introspection,
        batch_index=batch_index,
    )


def response_summary(body: bytes) -> list[GraphQLResponse]:
    """``data`` paths and ``errors`` per response (several for a batched response array)."""
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nested too deep
        return []
    items = payload if isinstance(payload, list) else [payload]
    out: list[GraphQLResponse] = []
    for item in items[:MAX_BATCH]:
        if not isinstance(item, dict) or not ("data" in item or "errors" in item):
            continue
        paths: list[str] = []
        _paths(item.get("data"), "", paths, 0)
        errors = item.get("errors")
        errs = errors if isinstance(errors, list) else []
        messages = tuple(str(e.get("message"))[:200] for e in errs[:20] if isinstance(e, dict) and "message" in e)
        out.append(GraphQLResponse(tuple(dict.fromkeys(paths)), len(errs), messages))
    return out


def _paths(value: Any, prefix: str, out: list[str], depth: int) -> None:
    if len(out) >= MAX_PATHS or depth > 32:
        return
    if isinstance(value, dict):
        for k, v in value.items():
            path = f"{prefix}.{k}" if prefix else str(k)
            out.append(path)
            _paths(v, path, out, depth + 1)
    elif isinstance(value, list):
        for v in value[:50]:
            _paths(v, prefix + "[]", out, depth + 1)
