"""Output helpers shared by every command: consoles, plain mode, one-line errors."""

from __future__ import annotations

import os
import sys
from typing import NoReturn

import typer

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


def plain_output() -> bool:
    """True when stdout is not a terminal or NO_COLOR is set: no colours, no live display."""
    return bool(os.environ.get("NO_COLOR")) or not sys.stdout.isatty()


def stdout_console():
    """A rich console on stdout; colourless and without markup effects in plain mode."""
    from rich.console import Console

    if plain_output():
        return Console(no_color=True, highlight=False, emoji=False, force_terminal=False, soft_wrap=True)
    return Console(highlight=False)


def say(message: str) -> None:
    """One line of information on stderr (keeps stdout clean for --json)."""
    print(message, file=sys.stderr, flush=True)


def fail(message: str, code: int = EXIT_USER_ERROR) -> NoReturn:
    """Report a problem the user can fix as one line on stderr, and exit with ``code``."""
    print(f"purenet: error: {message}", file=sys.stderr, flush=True)
    raise typer.Exit(code)
