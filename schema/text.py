"""Text the registry can store: a GraphQL string holding NUL or an unpaired surrogate is refused at the door.

PostgreSQL's text and jsonb cannot hold NUL (U+0000), and an unpaired surrogate (JSON's "\\ud800" alone) has
no UTF-8 form; either would otherwise fail deep in a resolver as a database error. Such an operation is refused
before it runs, with BAD_USER_INPUT naming the argument: `StorableLiterals` (a validation rule, cached with the
document) for strings written in the query, `StorableVariables` for the variables sent with it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import (
    ArgumentNode,
    GraphQLError,
    ObjectFieldNode,
    StringValueNode,
    ValidationRule,
    VariableNode,
    Visitor,
    visit,
)
from strawberry.extensions import SchemaExtension

MESSAGE = "holds a character that cannot be stored (NUL or an unpaired surrogate)"


def storable(text: str) -> bool:
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _refusal(field: str, nodes: list[Any] | None = None) -> GraphQLError:
    return GraphQLError(f"{field}: {MESSAGE}", nodes=nodes, extensions={"code": "BAD_USER_INPUT", "field": field})


class StorableLiterals(ValidationRule):
    def enter_string_value(self, node: StringValueNode, _key: Any, parent: Any, _path: Any, ancestors: Any) -> None:
        if storable(node.value):
            return
        names = [a.name.value for a in (*ancestors, parent) if isinstance(a, ArgumentNode | ObjectFieldNode)]
        self.report_error(_refusal(".".join(names) or "query", [node]))


def _unstorable(value: object, path: str) -> str | None:
    """The path of the first string in a variable's value that cannot be stored, if any."""
    if isinstance(value, str):
        return None if storable(value) else path
    if isinstance(value, dict):
        for key, item in value.items():
            found = _unstorable(key, path) or _unstorable(item, f"{path}.{key}")
            if found:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _unstorable(item, f"{path}.{index}")
            if found:
                return found
    return None


class _Arguments(Visitor):
    """The argument each variable is passed to (its first use), to name a refusal as the schema does."""

    def __init__(self) -> None:
        super().__init__()
        self.of: dict[str, str] = {}

    def enter_argument(self, node: ArgumentNode, *_: Any) -> None:
        if isinstance(node.value, VariableNode):
            self.of.setdefault(node.value.name.value, node.name.value)


class StorableVariables(SchemaExtension):
    """Refuses an operation whose variables hold text that cannot be stored. It comes after the validation
    cache among the schema's extensions, so that the document's own errors are answered beside it."""

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        for name, value in (context.variables or {}).items():
            path = _unstorable(value, name)
            if path is None:
                continue
            arguments = _Arguments()
            if context.graphql_document is not None:
                visit(context.graphql_document, arguments)
            head, _, rest = path.partition(".")
            field = ".".join(filter(None, (arguments.of.get(head, f"${head}"), rest)))
            context.pre_execution_errors = [*(context.pre_execution_errors or []), _refusal(field)]
            break
        yield
