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


def test_the_pipe_order_decides_only_once_the_running_handlers_own_signal_is_written():
    from purenet.cli.console import first_stop_in

    hup, sigint, term, alarm = signal.SIGHUP, signal.SIGINT, signal.SIGTERM, signal.SIGALRM
    assert first_stop_in(bytes([term, sigint]), sigint) == term  # both written: the pipe's order
    assert first_stop_in(bytes([alarm, sigint, hup]), hup) == sigint  # not a stop signal: passed over
    # SIGHUP's handler runs but its byte is still to be written by another thread: SIGHUP came first
    assert first_stop_in(bytes([sigint]), hup) == hup
    assert first_stop_in(b"", term) == term


def test_two_signals_during_one_long_c_call_stop_with_the_first_sent():
    import hashlib
    import threading

    def send() -> None:
        time.sleep(0.02)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.02)
        os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(Terminated) as stopped:
        with signals_as_interrupts():
            data, sender = bytes(400_000_000), threading.Thread(target=send)
            sender.start()
            hashlib.sha256(data)  # one C call: Python runs both handlers after it, SIGINT's first
            sender.join()
            time.sleep(2)
    assert stopped.value.signum == signal.SIGTERM


@pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="POSIX signal masks")
def test_while_a_save_runs_a_waiting_thread_takes_the_signals_in_the_order_they_come():
    from purenet.cli.console import signals_deferred

    stops = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
    with pytest.raises(Terminated) as stopped:
        with signals_as_interrupts():
            with signals_deferred():
                # the main thread holds them shut (an fsync would hold back the one it was given)
                assert stops <= signal.pthread_sigmask(signal.SIG_BLOCK, [])
                os.kill(os.getpid(), signal.SIGHUP)
                time.sleep(0.05)
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.05)
            pytest.fail("the first signal is raised once the save is over")
    assert stopped.value.signum == signal.SIGHUP
    assert not stops & signal.pthread_sigmask(signal.SIG_BLOCK, [])  # open again afterwards
