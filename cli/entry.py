"""The ``purenet`` console script's first code: a stop signal while the program loads ends it in one line.

Loading the command line (typer, click, rich) takes a few hundred milliseconds, before
any command has set up its own signal handling (``purenet.cli.console``); a Ctrl-C
then would end in a KeyboardInterrupt traceback. Nothing has been written yet, so
the process simply ends: one line, and the exit code of the signal.
"""

from __future__ import annotations

import os
import signal

_NAMES = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated"}
if hasattr(signal, "SIGHUP"):
    _NAMES[signal.SIGHUP] = "hung up"


def _stop_while_loading(signum, _frame) -> None:
    try:
        os.write(2, f"purenet: {_NAMES.get(signum, 'stopped')}\n".encode())
    except OSError:  # stderr closed: the exit code says it
        pass
    os._exit(128 + signum)


def main() -> None:
    """Entry point of the ``purenet`` console script: ``purenet.cli.app.main``, once loaded."""
    for signum in _NAMES:
        signal.signal(signum, _stop_while_loading)
    from purenet.cli.app import main as run

    run()
