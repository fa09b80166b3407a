"""Options with a fixed set of values: listed in --help, offered by completion, case forgiven.

``choice(values)`` gives the keyword arguments of a ``typer.Option`` whose value must
be one of ``values``: the help shows ``[a, b, c]``, shell completion offers the values
that start with what was typed, ``--optimizer Adam`` means ``adam``, and a typo is one
line with a suggestion, ``--optimizer 'adm' is not one of sgd, momentum, nesterov, adam;
did you mean adam?``, through ``PurenetGroup``'s error path (exit 2). ``aliases`` are
old names still accepted but not listed (``--preset seed-92.7``).

The value lists are the library's: a run setting's names are
``purenet.runs.settings.SETTINGS[name].choices``, read at start-up without numpy.
Only the command line's own lists live here.
"""

from __future__ import annotations

import difflib
from typing import Any, Callable, Mapping, Sequence

import typer

FRAMEWORKS = ("torch",)
"""What ``purenet bench --compare`` can time beside purenet."""


def suggestion(value: str, values: Sequence[str]) -> str:
    """'; did you mean X?' for the closest of ``values``, or '' when none is close."""
    close = difflib.get_close_matches(value.lower(), list(values), n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else ""


def parse_choice(values: Sequence[str], aliases: Mapping[str, str] = {}) -> Callable[[str], str]:
    """A parser for typer: the canonical value for ``text`` (any case), else BadParameter."""
    known = {value.lower(): value for value in values}
    known.update({alias.lower(): value for alias, value in aliases.items()})

    def parse(text: str) -> str:
        if not isinstance(text, str):  # the default, already a value
            return text
        found = known.get(text.lower())  # exact but for case: 'relu ' is no choice
        if found is None:
            raise typer.BadParameter(f"{text!r} is not one of {', '.join(values)}{suggestion(text, values)}")
        return found

    return parse


def choice(values: Sequence[str], aliases: Mapping[str, str] = {}) -> dict[str, Any]:
    """``typer.Option`` keyword arguments for an option whose value is one of ``values``."""

    def complete(incomplete: str) -> list[str]:
        return [value for value in values if value.startswith(incomplete.lower())]

    return {"parser": parse_choice(values, aliases), "metavar": choices_shown(values), "autocompletion": complete}


def choices_shown(values: Sequence[str]) -> str:
    """How --help lists the values: ``[sgd, momentum, nesterov, adam]``. The spaces let a narrow
    terminal wrap the list between values, never inside one (``per-sample-sig`` / ``moid``)."""
    return f"[{', '.join(values)}]"
