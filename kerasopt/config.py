"""Settings read from YAML, JSON or the command line: shared value coercion."""

from __future__ import annotations

from typing import Any


def number_or_text(value: Any) -> Any:
    """A numeric string as int or float (PyYAML reads ``1e-3`` as a string); anything else unchanged.

    ``"10"`` -> 10, ``"1e-3"`` -> 0.001, ``"adam"`` -> ``"adam"``, ``True`` -> ``True``.
    """
    if not isinstance(value, str):
        return value
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value
