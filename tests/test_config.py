"""Shared coercion of values read from YAML."""

import pytest

from kerasopt.config import number_or_text


@pytest.mark.parametrize("value, expected", [("10", 10), ("1e-3", 1e-3), ("-2.5", -2.5), ("adam", "adam"),
                                             (True, True), (3, 3), (None, None)])
def test_numeric_strings_become_numbers(value, expected):
    result = number_or_text(value)
    assert result == expected and type(result) is type(expected)
