"""A stop signal whose handler ran where it could not raise (a ``__del__``) stays the first one."""

from __future__ import annotations

import os
import signal
import time

import pytest

from purenet.cli.console import Terminated, signals_as_interrupts


class _FreedDuringASignal:
    """An object whose ``__del__`` receives a signal: its handler's exception cannot leave there."""

    def __init__(self, signum: int) -> None:
        self.signum = signum

    def __del__(self) -> None:
        os.kill(os.getpid(), self.signum)
        for _ in range(10_000):  # Python runs the handler here, inside __del__
            pass


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="needs SIGHUP")
def test_a_later_signal_does_not_overtake_a_first_one_sent_again():
    with pytest.raises(Terminated) as stopped:
        with signals_as_interrupts():
            _FreedDuringASignal(signal.SIGHUP)  # freed at once: the SIGHUP lands in its __del__
            os.kill(os.getpid(), signal.SIGINT)  # before the SIGHUP is sent again (10 ms later)
            time.sleep(2)
    assert stopped.value.signum == signal.SIGHUP
