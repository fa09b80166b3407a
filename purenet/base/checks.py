"""The small checks a setting or a stored value goes through, and a value shown in a message.

    MAX_WHOLE                   2**63 - 1, the largest whole number a setting may hold (NumPy's int64)
    is_whole(value, low, high)  an int (never a bool) from ``low`` to ``high``
    is_real(value)              a finite int or float (never a bool)
    cut(text, limit)            ``text`` (str or bytes), at most ``limit`` long, ending in "..." when cut
    shown(value, limit)         ``repr(value)`` for a message, cut; a whole number of 60 digits or more
                                shows its first 12 and how many it has
    one_line(text, limit)       ``text`` (another library's error message) on one line, cut

A run's settings (``purenet.runs.config``) and a checkpoint's metadata
(``purenet.runs.checkpoint``) are checked with these, and every message that quotes a
value it refuses quotes it through ``shown`` or ``cut``: the value may come from a
tampered file, and a message is one line.
"""

from __future__ import annotations

import math
from typing import Any, TypeVar

MAX_WHOLE = 2**63 - 1
"""The largest whole-number setting (a NumPy int64): anything larger is a typo or tampering."""

_LONG_BITS = 200
"""A whole number this many bits long (60 digits or more) is shown by its first digits and its count."""

_FIRST_DIGITS = 12

Text = TypeVar("Text", str, bytes)


def is_whole(value: Any, low: int = -MAX_WHOLE, high: int = MAX_WHOLE) -> bool:
    """Whether ``value`` is an int from ``low`` to ``high``. A bool is no number here,
    though Python counts it as an int: ``epochs=True`` is a mistake."""
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def is_real(value: Any) -> bool:
    """Whether ``value`` is a finite int or float, not a bool (an int too large for a
    float is not finite)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int beyond any float
        return False


def cut(text: Text, limit: int) -> Text:
    """``text``, shortened to ``limit`` characters (bytes) ending in "..." when it is longer."""
    if len(text) <= limit:
        return text
    return text[: limit - 3] + ("..." if isinstance(text, str) else b"...")


def one_line(text: str, limit: int = 160) -> str:
    """``text`` with every run of whitespace (newlines included) made one space, cut to
    ``limit``: another library's error message, quoted at the end of one of ours."""
    return cut(" ".join(text.split()), limit)


def shown(value: Any, limit: int = 80) -> str:
    """``repr(value)`` for a message, at most ``limit`` characters; a whole number of 200
    bits or more (60 digits) as its first 12 digits and their count: ``100000000000... (301 digits)``."""
    if isinstance(value, int) and value.bit_length() >= _LONG_BITS:
        return _long_whole(value)
    return cut(repr(value), limit)


def _long_whole(value: int) -> str:
    """'123456789012... (301 digits)', without ``str(value)``: Python refuses to turn an int
    of over 4,300 digits into text (ValueError), and a message must not fail."""
    magnitude = abs(value)
    digits = int(magnitude.bit_length() * math.log10(2))  # the count, or one less
    if magnitude >= 10**digits:
        digits += 1
    first = magnitude // 10 ** (digits - _FIRST_DIGITS)
    return f"{'-' if value < 0 else ''}{first}... ({digits} digits)"
