"""Output helpers shared by every command: consoles, plain mode, one-line errors, signals.

Every message for the user is one line on stderr: ``purenet: error: ...`` for a
mistake (exit 2), ``purenet: warning: ...`` for something worth knowing. Parser
errors (an unknown option, a value that is not a number) take the same form
through ``PurenetGroup``, the Typer group class of the app. The exit codes are
listed in docs/cli.md.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sys
import warnings
from typing import Iterator, NoReturn, Sequence

import typer
from typer.core import TyperGroup

from purenet.cli.streams import OutputFailed, output_failed

EXIT_USER_ERROR = 2
EXIT_DIVERGED = 3
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report Ctrl-C
SIGNAL_NAMES = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated"}
if hasattr(signal, "SIGHUP"):
    SIGNAL_NAMES[signal.SIGHUP] = "hung up"


def plain_output() -> bool:
    """True when stdout is not a terminal (a log, a pipe): no live display, no colours."""
    return not sys.stdout.isatty()


def color_output() -> bool:
    """True on a terminal unless NO_COLOR is set, which removes colour only: the progress
    bar and the live table stay (https://no-color.org)."""
    return not plain_output() and not os.environ.get("NO_COLOR")


def stdout_console():
    """A rich console on stdout; colourless and without markup effects in plain mode."""
    from rich.console import Console

    if plain_output():
        return Console(no_color=True, highlight=False, emoji=False, force_terminal=False, soft_wrap=True)
    return Console(highlight=False, no_color=not color_output())


def can_show(text: str, console) -> bool:
    """Whether ``console``'s encoding can show ``text`` (an ASCII or Latin-1 terminal cannot show ▀)."""
    try:
        text.encode(console.encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def one_line(text: str) -> str:
    """``text`` with its line breaks and runs of spaces folded, so a message stays one line."""
    return re.sub(r"\s+", " ", str(text)).strip()


def say(message: str) -> None:
    """One line of information on stderr (keeps stdout clean for --json)."""
    print(one_line(message), file=sys.stderr, flush=True)


def warn(message: str) -> None:
    """One line saying something is worth knowing, without failing."""
    say(f"purenet: warning: {message}")


def fail(message: str, code: int = EXIT_USER_ERROR) -> NoReturn:
    """Report a problem the user can fix as one line on stderr, and exit with ``code``."""
    say(f"purenet: error: {message}")
    raise typer.Exit(code)


# --- parser errors in purenet's own format ------------------------------------------------


def _click_class(name: str) -> type:
    """A click exception class, found through typer's public BadParameter (typer may vendor click)."""
    return next(kind for kind in typer.BadParameter.__mro__ if kind.__name__ == name)


class PurenetGroup(TyperGroup):
    """The app's group: parser errors print one line ``purenet: error: ...`` and exit 2, not a usage box.

    Python warnings are shown the same way, one line each, while a command runs.
    """

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        usage_error, click_error = _click_class("UsageError"), _click_class("ClickException")
        tidy_placeholders(self, self.context_settings.get("help_option_names", ["--help"]))
        try:
            with one_line_warnings(), signals_as_interrupts():
                code = super().main(args=args, prog_name=prog_name, complete_var=complete_var, standalone_mode=False, **extra)
                sys.stdout.flush()  # a write error of the output is the command's, said below
        except OutputFailed as failure:  # stdout full, closed or gone (purenet.cli.streams)
            code = output_failed(failure)
        except Terminated as error:  # a command with nothing to save: stop at once, in one line
            what, code = stopped_by(error)
            say(f"purenet: {what}")
        except MemoryError:  # the last net under the memory estimate of purenet.config
            say("purenet: error: out of memory; try a smaller network (--layers) or --batch-size")
            code = EXIT_USER_ERROR
        except OSError as error:  # the last net for a file the system refuses; the commands check first
            if error.filename is None:
                raise
            say(f"purenet: error: {error.filename}: {error.strerror or error}")
            code = EXIT_USER_ERROR
        except usage_error as error:
            if type(error).__name__ == "NoArgsIsHelpError":  # bare `purenet`: the help, as asked for
                typer.echo(error.ctx.get_help())
                code = 0
            else:
                code = _report_usage_error(error)
        except click_error as error:
            say(f"purenet: error: {error.format_message()}")
            code = EXIT_USER_ERROR
        except typer.Abort:
            code = EXIT_INTERRUPTED
        if not standalone_mode:
            return code
        sys.exit(code if isinstance(code, int) else 0)


def tidy_placeholders(command, help_names: Sequence[str]) -> None:
    """Give every parameter of ``command`` and its subcommands a placeholder meant for people.

    Some typer versions show Python type names (``<bool>`` after a flag, which takes no
    value; ``<list[Path]>``): a flag shows nothing, an argument its name, any other
    value its kind in words (``<path>``, ``<int>``). An option given its own ``metavar``
    (the choices' ``[a|b|c]``) keeps it. ``help_names``: the help option's names
    (``-h``, ``--help``), whose option click makes on first use.
    """
    help_option = command.get_help_option(typer.Context(command, help_option_names=list(help_names)))
    for param in [*getattr(command, "params", ()), *([help_option] if help_option is not None else [])]:
        if param.metavar is not None:
            continue
        if getattr(param, "is_flag", False):
            param.metavar = ""
        elif param.param_type_name == "argument":
            param.metavar = param.name.upper()
            param.display_type_rich = lambda ctx: ""  # the name says it; no type column
        else:
            param.metavar = _placeholder(param)
    for sub in getattr(command, "commands", {}).values():
        tidy_placeholders(sub, help_names)


def _placeholder(param) -> str:
    """``<path>``, ``<int>``, ``<number>``, ``<text>``; followed by ``...`` when it repeats."""
    described = repr(getattr(param, "type_descriptor", None) or param.type).lower()
    repeats = "..." if getattr(param, "multiple", False) or param.nargs != 1 else ""
    for word, shown in (("path", "path"), ("int", "int"), ("float", "number"), ("str", "text")):
        if word in described:
            return f"<{shown}>{repeats}"
    return f"<{param.name}>{repeats}"


def _report_usage_error(error) -> int:
    command = error.ctx.command_path if error.ctx is not None else "purenet"
    say(f"purenet: error: {_choice_message(error) or error.format_message()} (see: {command} --help)")
    return EXIT_USER_ERROR


def _choice_message(error) -> str | None:
    """A value not among an option's choices, said as the library says it: ``--act 'swish' is
    not one of ...`` (the option's metavar lists them: ``[a|b|c]``, purenet.cli.choices)."""
    param = getattr(error, "param", None)
    metavar = getattr(param, "metavar", None) or ""
    if not (metavar.startswith("[") and metavar.endswith("]") and param.opts and getattr(error, "message", "")):
        return None
    return f"{param.opts[-1]} {error.message}"


@contextlib.contextmanager
def one_line_warnings() -> Iterator[None]:
    """Show Python warnings as ``purenet: warning: ...`` lines, never as source excerpts."""
    original = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        warn(str(message))

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = original


# --- signals --------------------------------------------------------------------------------


class Terminated(BaseException):
    """A signal to stop arrived (SIGINT, SIGTERM, SIGHUP): unwind, so files are left whole and
    locks released, and end with one line. (Raised in place of KeyboardInterrupt for Ctrl-C too,
    so that every command, not only those that catch it, can say in one line that it stopped.)"""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


_stopping: list[int] = []
"""The signal that stopped the command, once one has: the process is on its way out."""


def _raise_terminated(signum, _frame) -> None:
    # The first signal stops the command; the next ones are ignored from here on, so that a
    # second Ctrl-C (or a SIGTERM after it) cannot cut short the cleanup, the line or the exit.
    ignore_stop_signals()
    _stopping.append(signum)
    raise Terminated(signum)


def ignore_stop_signals() -> None:
    """SIGINT, SIGTERM and SIGHUP ignored: for a process that is stopping, or whose command is done."""
    for s in SIGNAL_NAMES:
        signal.signal(s, signal.SIG_IGN)


@contextlib.contextmanager
def signals_as_interrupts() -> Iterator[None]:
    """Within the block, SIGINT (Ctrl-C), SIGTERM and SIGHUP raise ``Terminated``, the first one;
    once one has, later ones are ignored until the process ends (it is stopping)."""
    handled = list(SIGNAL_NAMES)
    try:
        previous = {s: signal.signal(s, _raise_terminated) for s in handled}
    except ValueError:  # not the main thread (an embedding program): leave signals alone
        yield
        return
    _stopping.clear()
    try:
        yield
    finally:
        if not _stopping:  # stopped by a signal: keep ignoring the next ones until the process ends
            for s, handler in previous.items():
                signal.signal(s, handler)


def signal_of(error: BaseException) -> int:
    """The signal behind a KeyboardInterrupt or Terminated."""
    return error.signum if isinstance(error, Terminated) else signal.SIGINT


def stopped_by(error: BaseException) -> tuple[str, int]:
    """('interrupted' | 'terminated' | 'hung up', the conventional exit code 128 + signal)."""
    signum = signal_of(error)
    return SIGNAL_NAMES.get(signum, "stopped"), 128 + int(signum)
