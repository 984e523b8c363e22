"""Formatting of report cells and markdown tables (`fmt`, `interval_text`, `markdown_table`)."""

from __future__ import annotations

import math

import pandas as pd


def fmt(value, digits: int = 4) -> str:
    """A number for a table: ``—`` for missing, ``not reached`` for inf."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float) and math.isinf(value):
        return "not reached"
    return f"{value:.{digits}g}" if isinstance(value, (float, int)) else str(value)


def interval_text(mean: float, low: float, high: float) -> str:
    """``"12.3 [10.1, 14.5]"``; the mean alone where no interval exists."""
    if math.isnan(low) or math.isnan(high):
        return fmt(mean)
    return f"{fmt(mean)} [{fmt(low)}, {fmt(high)}]"


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub markdown table of ``frame`` (values formatted with `fmt`)."""
    head = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(fmt(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *body])
