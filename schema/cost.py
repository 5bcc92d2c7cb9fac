"""A static cost rule for GraphQL operations: lists multiply what they hold, and an operation over the budget is
refused before it runs (API.md point 3; strawberry has no cost limit of its own).

Every field costs 1; a field taking `first` (a page of a list) costs 1 + `first` x the cost of what it selects,
`first` being the literal given, the largest page for a variable (its value is not known while validating, so
the worst case is charged), or the largest default page when it is absent; a list bounded otherwise (BOUNDED) is
charged at its longest. The cost of the operation is returned in the response's `extensions.cost` (`requested`,
`limit`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationRule,
)
from strawberry.extensions import SchemaExtension

LIMIT = 5000
MAX_PAGE = 100  # as schema/api.py caps `first`
DEFAULT_PAGE = 50  # the largest default of a `first` argument in the schema
# Lists without `first` whose length is bounded by the schema, charged at their longest: the fields of a record's
# version compared (schema/api.py, RecordDiff.differences: a child's record has 22, a case 20).
BOUNDED = {"differences": 25}
_COST: ContextVar[int | None] = ContextVar("graphql_cost", default=None)


def _multiplier(field: FieldNode) -> int | None:
    for argument in field.arguments or ():
        value = argument.value
        if argument.name.value == "first":
            return int(value.value) if isinstance(value, IntValueNode) else MAX_PAGE
        if field.name.value == "nodes" and argument.name.value == "ids":
            return len(value.values) if isinstance(value, ListValueNode) else MAX_PAGE
    return None


def _cost(
    selections: SelectionSetNode | None, fragments: dict[str, FragmentDefinitionNode], seen: set[str], depth: int = 0
) -> int:
    if selections is None or depth > 50:
        return 0
    total = 0
    for selection in selections.selections:
        if isinstance(selection, FieldNode):
            inner = _cost(selection.selection_set, fragments, seen, depth + 1)
            per_page = _multiplier(selection)
            if per_page is None and selection.name.value in ("history", "accessLog", "children", "cases"):
                per_page = DEFAULT_PAGE
            per_page = BOUNDED.get(selection.name.value, per_page)
            total += 1 + (inner if per_page is None else per_page * inner)
        elif isinstance(selection, InlineFragmentNode):
            total += _cost(selection.selection_set, fragments, seen, depth + 1)
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments.get(selection.name.value)
            if fragment is not None and fragment.name.value not in seen:  # a cycle is another rule's error
                seen.add(fragment.name.value)
                total += _cost(fragment.selection_set, fragments, seen, depth + 1)
                seen.discard(fragment.name.value)
    return total


def _fragments(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    return {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}


@lru_cache(maxsize=256)
def cost_of(document: DocumentNode) -> int:
    """The cost of a document's costliest operation (for a document whose validation came from the cache)."""
    fragments = _fragments(document)
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    return max((_cost(o.selection_set, fragments, set()) for o in operations), default=0)


class CostRule(ValidationRule):
    def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
        cost = _cost(node.selection_set, _fragments(self.context.document), set())
        _COST.set(max(cost, _COST.get() or 0))
        if cost > LIMIT:
            self.report_error(GraphQLError(
                f"the operation would cost {cost}, more than the limit of {LIMIT}: ask for smaller pages",
                nodes=[node], extensions={"code": "COST_LIMIT", "cost": cost, "limit": LIMIT},
            ))  # fmt: skip


class ReportCost(SchemaExtension):
    """Puts the operation's cost in the response's `extensions`."""

    def on_operation(self) -> Iterator[None]:
        _COST.set(None)
        yield

    def get_results(self) -> dict[str, Any]:
        cost, document = _COST.get(), self.execution_context.graphql_document
        if cost is None and document is not None:  # validated from the cache (schema/api.py): the rule did not run
            cost = cost_of(document)
        return {} if cost is None else {"cost": {"requested": cost, "limit": LIMIT}}


__all__ = ["LIMIT", "CostRule", "ReportCost"]
