"""GitHub Markdown tables, the one format every report writes its tables in. Imports nothing
heavy: the stage cost records (`diffurec.report.cost`) load with every stage."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def markdown_table(header: Sequence[str], align: str, rows: Sequence[Sequence[str]]) -> str:
    """A GitHub table, one line per row, cells unpadded; `align` has one 'l' or 'r' per column."""
    marks = {"l": "---", "r": "---:"}
    lines = [_row(header), _row(marks[a] for a in align)]
    lines.extend(_row(row) for row in rows)
    return "\n".join(lines) + "\n"


def _row(cells: Iterable[str]) -> str:
    return "| " + " | ".join(cells) + " |"
