"""Plain-text tables shared by the chapter tools."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def _fmt(v: float) -> str:
    """A number in at most 6 significant digits, with -0 shown as 0."""
    return "0" if v == 0 else f"{v:.6g}"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    rows = [list(header), *[list(r) for r in rows]]
    widths = [max(len(r[c]) for r in rows) for c in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip()
             for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
