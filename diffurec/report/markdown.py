"""GitHub Markdown tables, the one format every report writes its tables in, and the one way each
kind of number is written in them: a metric as a fraction to 4 decimals, a difference of metrics
in percentage points, a relative change in percent only over a base that is not near zero.
Imports nothing heavy: the stage cost records (`diffurec.report.cost`) load with every stage."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence

# What a cell holds where there is no number.
DASH = "—"
# A relative change over a base below this says nothing a reader can use (0.001 to 0.0113 is
# "+1030%"): it is left out, and the difference in points says what changed.
MIN_RELATIVE_BASE = 0.005


def markdown_table(header: Sequence[str], align: str, rows: Sequence[Sequence[str]]) -> str:
    """A GitHub table, one line per row, cells unpadded; `align` has one 'l' or 'r' per column."""
    marks = {"l": "---", "r": "---:"}
    lines = [_row(header), _row(marks[a] for a in align)]
    lines.extend(_row(row) for row in rows)
    return "\n".join(lines) + "\n"


def without_empty_columns(
    header: Sequence[str], align: str, rows: Sequence[Sequence[str]]
) -> tuple[list[str], str, list[list[str]]]:
    """`markdown_table`'s arguments less every column whose cells are all "—" or blank (such as a
    paper's column on a dataset the paper never ran): it tells the reader nothing. A table without
    rows keeps its columns."""
    keep = [i for i in range(len(header)) if not rows or any(row[i] not in (DASH, "") for row in rows)]
    return (
        [header[i] for i in keep],
        "".join(align[i] for i in keep),
        [[row[i] for i in keep] for row in rows],
    )


def fraction(value: float | None) -> str:
    """A metric (HR, NDCG: fractions) to 4 decimals; "—" for None or NaN (no users to score)."""
    return DASH if value is None or math.isnan(value) else f"{value:.4f}"


def points(difference: float | None) -> str:
    """A difference of two metrics in percentage points (100 x the difference), signed, to 3 decimals;
    "—" for None or NaN."""
    return DASH if difference is None or math.isnan(difference) else f"{100.0 * difference:+.3f}"


def relative_change(value: float, base: float) -> float | None:
    """(value - base) / base in percent; None when `base` is below MIN_RELATIVE_BASE."""
    return None if base < MIN_RELATIVE_BASE else 100.0 * (value - base) / base


def percent(change: float | None) -> str:
    """A relative change in percent (from `relative_change`), signed, to 1 decimal; "—" for None."""
    return DASH if change is None else f"{change:+.1f}%"


def heading_anchor(heading: str) -> str:
    """The link target GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def _row(cells: Iterable[str]) -> str:
    return "| " + " | ".join(cells) + " |"
