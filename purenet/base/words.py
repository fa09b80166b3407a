"""Counting in messages: "1 epoch", "2 epochs", never "1 epochs".

Every message that puts a number before a noun says it through ``counted``, so that
the singular is right wherever the number can be 1 (a one-epoch run, a one-image test
set, a one-byte file).
"""

from __future__ import annotations


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """'1 epoch', '3 epochs'; ``plural`` for a noun that does not take an s."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"
