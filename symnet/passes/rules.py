"""Rewrite rows: the rule-trying loop every table-driven pass shares."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ..graph import Graph, Node

__all__ = ["Rule", "first_rule"]


Rule = Callable[[Graph, int, Node, list[int]], int]


def first_rule(rules: Iterable[Rule]) -> Rule:
    """One rebuild function trying rewrite rows in order: the first that returns
    a node id (not -1) wins.

    >>> first_rule([lambda *a: -1, lambda *a: 7])(None, 0, None, [])
    7
    """
    rows = tuple(rules)

    def fn(new: Graph, i: int, n: Node, args: list[int]) -> int:
        for rule in rows:
            r = rule(new, i, n, args)
            if r != -1:
                return r
        return -1

    return fn
