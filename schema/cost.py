"""A static cost rule for GraphQL operations: lists multiply what they hold, and an operation over the budget is
refused before it runs (API.md point 3; strawberry has no cost limit of its own).

Every field costs 1; a field taking `first` (a page of a list) costs 1 + `first` x the cost of what it selects,
`first` being the literal given, the largest page for a variable (its value is not known while validating, so
the worst case is charged), or the largest default page when it is absent. The cost of the operation is
returned in the response's `extensions.cost` (`requested`, `limit`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
)
from strawberry.extensions import SchemaExtension

LIMIT = 5000
MAX_PAGE = 100  # as schema/api.py caps `first`
DEFAULT_PAGE = 50  # the largest default of a `first` argument in the schema
_COST: ContextVar[int | None] = ContextVar("graphql_cost", default=None)


def _multiplier(field: FieldNode) -> int | None:
    for argument in field.arguments or ():
        if argument.name.value == "first":
            value = argument.value
            return int(value.value) if isinstance(value, IntValueNode) else MAX_PAGE
    return None


class CostRule(ValidationRule):
    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        self._seen: set[str] = set()

    def _cost(self, selections: SelectionSetNode | None, depth: int = 0) -> int:
        if selections is None or depth > 50:
            return 0
        total = 0
        for selection in selections.selections:
            if isinstance(selection, FieldNode):
                inner = self._cost(selection.selection_set, depth + 1)
                per_page = _multiplier(selection)
                if per_page is None and selection.name.value in ("history", "accessLog", "children"):
                    per_page = DEFAULT_PAGE
                total += 1 + (inner if per_page is None else per_page * inner)
            elif isinstance(selection, InlineFragmentNode):
                total += self._cost(selection.selection_set, depth + 1)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.context.get_fragment(selection.name.value)
                if fragment is not None and fragment.name.value not in self._seen:  # a cycle is another rule's error
                    self._seen.add(fragment.name.value)
                    total += self._cost(fragment.selection_set, depth + 1)
                    self._seen.discard(fragment.name.value)
        return total

    def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
        cost = self._cost(node.selection_set)
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
        cost = _COST.get()
        return {} if cost is None else {"cost": {"requested": cost, "limit": LIMIT}}


__all__ = ["LIMIT", "CostRule", "ReportCost"]
