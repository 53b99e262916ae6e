"""One home for the checks of numeric parameters: fractions and counts.

Refused early, in one line naming the parameter, with the likely meaning as a hint.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import pandas as pd

from ._dispatch import is_dask
from .exceptions import ParameterError, SchemaError

__all__ = ["check_fraction", "check_count"]


def check_fraction(value: Any, name: str, *, allow_one: bool = True) -> float:
    """A fraction in (0, 1] (or (0, 1) without *allow_one*), as a float.

    A value in (1, 100] is refused with the fraction it likely meant as a percent.

    Examples
    --------
    >>> check_fraction("0.95", "--slo")
    0.95
    >>> check_fraction(99, "-r")
    Traceback (most recent call last):
    ...
    syncstats.exceptions.ParameterError: -r: expected a fraction in (0, 1], found 99; did you...
    """
    high = "1]" if allow_one else "1)"
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{name}: expected a fraction in (0, {high}, found "
                             f"{value!r}") from None
    if isinstance(value, bool) or not math.isfinite(x):
        raise ParameterError(f"{name}: expected a fraction in (0, {high}, found {value!r}")
    if 0 < x < 1 or (x == 1 and allow_one):
        return x
    hint = ""
    if 1 < x <= 100:
        hint = f"; did you mean {x / 100:g} ({x:g}%)?"
    elif x == 1:
        hint = f"; {name} of 1 leaves no error budget"
    shown = value if isinstance(value, str) else f"{x:g}"
    raise ParameterError(f"{name}: expected a fraction in (0, {high}, found {shown}{hint}")


def check_count(value: Any, name: str) -> int:
    """A whole number >= 0.

    Examples
    --------
    >>> check_count("20", "--max-dlq")
    20
    >>> check_count(-1, "--max-dlq")
    Traceback (most recent call last):
    ...
    syncstats.exceptions.ParameterError: --max-dlq: expected a whole number >= 0, found -1
    """
    try:
        n = int(str(value).strip()) if not isinstance(value, int) else value
    except ValueError:
        raise ParameterError(f"{name}: expected a whole number >= 0, found {value!r}") from None
    if isinstance(value, bool) or n < 0:
        raise ParameterError(f"{name}: expected a whole number >= 0, found {value!r}")
    return n


def require(frame: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    """Raise SchemaError naming the columns of *frame* that are missing."""
    if not isinstance(frame, pd.DataFrame) and not is_dask(frame):
        raise SchemaError(f"{what}: expected a DataFrame, found {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise SchemaError(
            f"{what}: the frame lacks column(s) {missing}; found {list(frame.columns)}"
        )


#: Shift that turns flooring (left-closed buckets) into right-closed buckets for interval
#: ends: ``(bucket, bucket + freq]``.


def check_choice(value: Any, name: str, choices: Iterable[str]) -> str:
    """*value* if it is one of *choices*; else a one-line ParameterError naming *name*.

    Examples
    --------
    >>> check_choice("auto", "engine", ("auto", "reference"))
    'auto'
    >>> check_choice("fast", "engine", ("auto", "reference"))
    Traceback (most recent call last):
    ...
    syncstats.exceptions.ParameterError: engine: expected one of 'auto', 'reference'; found 'fast'
    """
    choices = tuple(choices)
    if not isinstance(value, str) or value not in choices:
        raise ParameterError(f"{name}: expected one of {', '.join(map(repr, choices))}; "
                             f"found {value!r}")
    return value
