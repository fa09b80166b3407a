"""Output helpers shared by every command: consoles, plain mode, one-line errors, signals.

Every message for the user is one line on stderr: ``purenet: error: ...`` for a
mistake (exit 2), ``purenet: warning: ...`` for something worth knowing. Parser
errors (an unknown option, a value that is not a number) take the same form
through ``PurenetGroup``, the Typer group class of the app. The exit codes are
listed in docs/cli.md.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import signal
import sys
import threading
import time
import warnings
from typing import Iterator, NoReturn, Sequence

import typer
from typer.core import TyperGroup

from purenet.base.checks import MAX_WHOLE, cut  # the largest whole number an option takes, as a run's settings
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
        except MemoryError:  # the last net under the memory estimate of purenet.runs.config
            say("purenet: error: out of memory; try a smaller network (--layers) or --batch-size")
            code = EXIT_USER_ERROR
        except OSError as error:  # the last net for a file the system refuses; the commands check first
            if error.filename is None:
                raise
            say(f"purenet: error: {error.filename}: {error.strerror or error}")
            code = EXIT_USER_ERROR
        except usage_error as error:
            if type(error).__name__ == "NoArgsIsHelpError":  # bare `purenet`: the help, as asked for
                _show_help_once(error)
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


def _show_help_once(error) -> None:
    """Show the help that a bare ``purenet`` asks for, once: click made the help text when it
    raised ``error``; rich's help printed itself then, leaving an empty text to show."""
    text = error.format_message()
    if text.strip():
        typer.echo(text)


def tidy_placeholders(command, help_names: Sequence[str]) -> None:
    """Give every parameter of ``command`` and its subcommands a placeholder meant for people.

    Some typer versions show Python type names (``<bool>`` after a flag, which takes no
    value; ``<list[Path]>``): a flag shows nothing, an argument its name, any other
    value its kind in words (``<path>``, ``<int>``). An option given its own ``metavar``
    (the choices' ``[a, b, c]``) keeps it. ``help_names``: the help option's names
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
    for param in getattr(command, "params", ()):
        check_typed_values(param)
    for sub in getattr(command, "commands", {}).values():
        tidy_placeholders(sub, help_names)


def _placeholder(param) -> str:
    """``<path>``, ``<int>``, ``<number>``, ``<text>``; followed by ``...`` when it repeats."""
    repeats = "..." if getattr(param, "multiple", False) or param.nargs != 1 else ""
    return f"<{value_kind(param) or param.name}>{repeats}"


def value_kind(param) -> str | None:
    """What a parameter's value is: 'path', 'int', 'number', 'text' (None: unknown)."""
    descriptor = getattr(param, "type_descriptor", None)  # typer's own coercion (newer versions)
    described = repr(getattr(descriptor, "annotation", None) or param.type).lower()
    for word, kind in (("path", "path"), ("int", "int"), ("float", "number"), ("str", "text")):
        if word in described:
            return kind
    return None


# --- values typed on the command line, checked before typer converts them --------------------

_WHOLE = re.compile(r"[+-]?[0-9]+")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?(?:nan|inf|infinity)", re.IGNORECASE)
"""A number as people write it; nan and inf pass, for the command's own check to name the range."""


class ValueRefused(typer.BadParameter):
    """A typed value refused before conversion; the message names the option and says what is wrong."""

    def format_message(self) -> str:
        return self.message


def check_typed_values(param) -> None:
    """Make ``param`` refuse, in its own words, a value typed on the command line that is
    empty, has spaces around it, or (for a whole number) is not digits or lies out of range.

    Typer would take ``' 5'``, ``2.0`` or ``1_000`` as numbers, an empty path as the
    current folder and any integer of a thousand digits; every option of every command
    goes through here (``tidy_placeholders``), so none is forgotten.
    """
    if getattr(param, "is_flag", False) or getattr(param, "_purenet_checks_values", False):
        return
    process_value = param.process_value

    def checked_process_value(ctx, value):
        source = ctx.get_parameter_source(param.name)
        if source is not None and source.name == "COMMANDLINE":
            for text in value if isinstance(value, (tuple, list)) else (value,):
                if isinstance(text, str):
                    _check_typed(param, text)
        return process_value(ctx, value)

    param.process_value = checked_process_value
    param._purenet_checks_values = True


def _check_typed(param, text: str) -> None:
    name = max(param.opts, key=len) if param.param_type_name == "option" else param.name.upper()
    kind = "choice" if (param.metavar or "").startswith("[") else value_kind(param) or "text"
    if not text.strip():
        wanted = {"path": "a file or folder name", "int": "a whole number", "number": "a number",
                  "choice": f"one of {param.metavar[1:-1]}" if kind == "choice" else ""}.get(kind, "a value")
        raise ValueRefused(f"{name} is {'empty' if not text else f'blank ({text!r})'}; give {wanted}", param=param)
    if text != text.strip():
        raise ValueRefused(f"{name} {text!r} has spaces around it; did you mean {text.strip()!r}?", param=param)
    if kind == "number":
        if not _NUMBER.fullmatch(text):
            raise ValueRefused(f"{name} must be a number, got {_cut(text)!r}", param=param)
        low, high = _declared_range(param)
        if (low, high) != (None, None) and not _finite_within(float(text), low, high):
            span = " and ".join(part for part in (low is not None and f">= {low:g}", high is not None and f"<= {high:g}") if part)
            raise ValueRefused(f"{name} must be a finite number {span}, got {_cut(text)}", param=param)
    if kind == "int":
        low, high = _declared_range(param)
        low, high = -MAX_WHOLE if low is None else int(low), MAX_WHOLE if high is None else int(high)
        if not _WHOLE.fullmatch(text) or not low <= int(text) <= high:
            raise ValueRefused(f"{name} must be a whole number from {low} to {high}, got {_cut(text)}", param=param)


def _finite_within(number: float, low, high) -> bool:
    return math.isfinite(number) and (low is None or number >= low) and (high is None or number <= high)


def _declared_range(param) -> tuple:
    """The bounds given to a number option (``typer.Option(min=, max=)``); None where none is."""
    info = getattr(getattr(param, "type_descriptor", None), "parameter_info", None) or param.type
    return getattr(info, "min", None), getattr(info, "max", None)


def _cut(text: str) -> str:
    """``text``, shortened when it runs long (a number of a thousand digits), with its length."""
    return text if len(text) <= 30 else f"{cut(text, 23)} ({len(text)} characters)"


def _report_usage_error(error) -> int:
    command = error.ctx.command_path if error.ctx is not None else "purenet"
    message = error.format_message() if isinstance(error, ValueRefused) else _choice_message(error) or error.format_message()
    say(f"purenet: error: {message} (see: {command} --help)")
    return EXIT_USER_ERROR


def _choice_message(error) -> str | None:
    """A value not among an option's choices, said as the library says it: ``--act 'swish' is
    not one of ...`` (the option's metavar lists them: ``[a, b, c]``, purenet.cli.choices)."""
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


class _StopState:
    """What the signal handler knows: the first stop signal (None until one arrives), whether
    a section that must not be cut is running, and a signal it holds back until that ends."""

    def __init__(self) -> None:
        self.whole_process = False  # set by the console script: nothing runs after the command
        self.reset()

    def reset(self) -> None:
        self.first: int | None = None
        self.resent: int | None = None  # the first signal, sent again after its handler ran where it could not raise
        self.deferring = 0
        self.pending: int | None = None
        self.arrivals: int | None = None  # the read end of the pipe signal.set_wakeup_fd writes to

    def arrived_first(self, signum: int) -> int:
        """The signal that arrived first, ``signum`` being the one whose handler runs now.

        Python runs the handlers of signals that came during one long C call (a save, a matrix
        product) in the order of their numbers, SIGINT before SIGTERM; the wake-up pipe has them
        in the order they came. But when ``signum``'s own number is not in the pipe yet, its
        low-level handler is still under way in another thread (the kernel hands a process's
        signals to whichever thread can take them, and a thread can be paused between noting a
        signal and writing it to the pipe): a later signal taken by the main thread meanwhile can
        then be written first, so ``signum`` is the one that came first."""
        if self.arrivals is not None:
            with contextlib.suppress(OSError):
                came = os.read(self.arrivals, 4096)  # every signal with a Python handler, SIGALRM too
                return first_stop_in(came, signum)
        return signum

    @contextlib.contextmanager
    def watching_arrivals(self) -> Iterator[None]:
        """Within the block, have the wake-up pipe record the order in which signals arrive."""
        try:
            read_end, write_end = os.pipe()
        except OSError:
            yield
            return
        try:
            os.set_blocking(read_end, False)
            os.set_blocking(write_end, False)
            previous = signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
        except (ValueError, OSError):  # not the main thread, or a system whose wake-up fd is a socket
            os.close(read_end)
            os.close(write_end)
            yield
            return
        self.arrivals = read_end
        try:
            yield
        finally:
            self.arrivals = None
            with contextlib.suppress(ValueError, OSError):
                signal.set_wakeup_fd(previous)
            os.close(read_end)
            os.close(write_end)


_stop = _StopState()


def first_stop_in(came: bytes, signum: int) -> int:
    """The first stop signal the wake-up pipe's bytes ``came`` name, if ``signum`` (whose handler
    runs) is among them; ``signum`` itself when it is not written there yet (see ``arrived_first``)."""
    stops = [number for number in came if number in SIGNAL_NAMES]
    return signal.Signals(stops[0]) if int(signum) in stops else signum


def _on_stop_signal(signum, _frame) -> None:
    """The first stop signal raises ``Terminated`` (at once, or when a deferred section ends);
    any later one is ignored, so that the stop under way can finish its save and its line."""
    if _stop.first is None:
        signum = _stop.arrived_first(signum)
        _stop.first = signum
    elif signum == _stop.resent:  # the first signal again (see the unraisable hook): deliver it now
        _stop.resent = None
        signum = _stop.first
    else:  # a later signal: the stop under way goes on
        return
    if _stop.deferring:
        _stop.pending = signum
        return
    raise Terminated(signum)


def the_process_is_the_command() -> None:
    """Say that this process ends when the command does (the console script): once the command
    is over (stopped by a signal, or done), a stop signal is ignored until the process exits,
    instead of killing it on the way out with nothing said."""
    _stop.whole_process = True


def ignore_stop_signals() -> None:
    """SIGINT, SIGTERM and SIGHUP ignored: for a process that is stopping, or whose command is
    done (an export written whole, a server that has shut down)."""
    for s in SIGNAL_NAMES:
        signal.signal(s, signal.SIG_IGN)


@contextlib.contextmanager
def signals_as_interrupts() -> Iterator[None]:
    """Within the block, SIGINT (Ctrl-C), SIGTERM and SIGHUP raise ``Terminated``: the first
    of them; the process is stopping then, and any further one is ignored (``signals_deferred``
    holds the first back while a file is written)."""
    handled = list(SIGNAL_NAMES)
    _stop.reset()
    try:
        previous = {s: signal.signal(s, _on_stop_signal) for s in handled}
    except ValueError:  # not the main thread (an embedding program): leave signals alone
        yield
        return
    previous_hook = sys.unraisablehook
    sys.unraisablehook = _stop_raised_where_it_cannot_be_caught(previous_hook)
    try:
        with _stop.watching_arrivals():
            yield
    finally:
        sys.unraisablehook = previous_hook
        for s, handler in previous.items():
            # the console script's command is over (its files written, its line said), the process
            # only exits now: a signal that comes in this last moment is ignored rather than
            # killing it silently on the way out
            signal.signal(s, signal.SIG_IGN if _stop.whole_process else handler)


def _stop_raised_where_it_cannot_be_caught(previous_hook):
    """An unraisable-exception hook for a stop signal whose handler ran inside a weakref callback
    or a ``__del__`` (the garbage collector's, as it frees a figure): Python would print its
    traceback and drop it, and the command would go on, deaf to any later signal. The signal is
    sent again instead, a moment later (from a thread, so that it lands once this hook has
    returned, not inside it), to reach the command at its next step."""

    def hook(unraisable) -> None:
        if not isinstance(unraisable.exc_value, Terminated):
            previous_hook(unraisable)
            return
        # not delivered yet: the handler takes it when it comes again, and it stays the first
        # (a later signal that lands before it is ignored, as after any first signal)
        _stop.resent = unraisable.exc_value.signum
        threading.Thread(target=_send_again, args=(unraisable.exc_value.signum,), daemon=True).start()

    return hook


def _send_again(signum: int) -> None:
    time.sleep(0.01)
    os.kill(os.getpid(), signum)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Within the block (a save, and noting what the file holds), a stop signal waits: it is
    raised as ``Terminated`` once the block has finished, so the file and what the command
    says about it agree. (If the block fails, its own error goes on instead.)"""
    _stop.deferring += 1
    try:
        with _taken_by_a_waiting_thread():
            yield
    finally:
        _stop.deferring -= 1
    if not _stop.deferring and _stop.pending is not None:
        signum, _stop.pending = _stop.pending, None
        raise Terminated(signum)


_waiting_thread: list[threading.Thread] = []


@contextlib.contextmanager
def _taken_by_a_waiting_thread() -> Iterator[None]:
    """Within the block, the main thread holds the stop signals shut and a thread that only waits
    takes them, the moment they come, so that the wake-up pipe has them in the order they came.

    A save ends with fsync, a system call that cannot be interrupted: a signal the kernel gives the
    main thread then waits until the call returns, while a later one, given to another thread,
    is noted at once: the pipe would have the later one first (SIGINT before the SIGHUP sent 20 ms
    earlier). The handlers still run in the main thread, once the call returns."""
    main = threading.main_thread()
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not main or _stop.arrivals is None:
        yield
        return
    if not _waiting_thread:  # started while the main thread has the signals open: the thread inherits that
        waiter = threading.Thread(target=threading.Event().wait, name="purenet-stop-signals", daemon=True)
        waiter.start()
        _waiting_thread.append(waiter)
    held = signal.pthread_sigmask(signal.SIG_BLOCK, set(SIGNAL_NAMES))
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def signal_of(error: BaseException) -> int:
    """The signal behind a KeyboardInterrupt or Terminated."""
    return error.signum if isinstance(error, Terminated) else signal.SIGINT


def stopped_by(error: BaseException) -> tuple[str, int]:
    """('interrupted' | 'terminated' | 'hung up', the conventional exit code 128 + signal)."""
    signum = signal_of(error)
    return SIGNAL_NAMES.get(signum, "stopped"), 128 + int(signum)
