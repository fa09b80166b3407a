"""Stop signals against ``purenet train`` with a checkpoint large enough that saving takes a while.

A signal can land while the checkpoint is being written: the line must then name the epoch
the file really holds, and a second signal soon after the first must not kill the process
before it has finished its save and said so. Real processes, signals at random moments
(from a seeded generator); only outcomes are asserted, never timings.
"""

from __future__ import annotations

import csv
import json
import os
import random
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import write_idx
from test_cli_train import installed_purenet

from purenet.runs.checkpoint import load as load_checkpoint

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="POSIX signals")]

BIG = ["--layers", "784,1500,1500,10", "--batch-size", "64", "--augment", "none", "--epochs", "1000", "--json"]
"""About 3.4 million weights with Adam's two moments: a 40 MB checkpoint, written after every short epoch."""

CODES = {signal.SIGTERM: 143, signal.SIGINT: 130, signal.SIGHUP: 129}


@pytest.fixture(scope="module")
def tiny_mnist(tmp_path_factory, mnist) -> Path:
    """128 training and 50 test images: an epoch is two steps, so the time goes into saving."""
    folder = tmp_path_factory.mktemp("tiny-mnist")
    for prefix, split, count in (("train", mnist.train, 128), ("t10k", mnist.test, 50)):
        part = split.take(slice(0, count))
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", part.images.reshape(-1, 28, 28))
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", part.labels)
    return folder


def _stop_twice(folder: Path, data: Path, first: int, second: int | None, delay: float) -> tuple[int, str]:
    """Start a run, wait for its first epoch, wait ``delay`` more, send ``first`` then ``second``
    (if any) 20 ms later; return (its exit status, its stderr)."""
    env = {**os.environ, "XDG_STATE_HOME": str(folder / "state"), "OPENBLAS_NUM_THREADS": "1"}
    child = subprocess.Popen([installed_purenet(), "train", *BIG, "--data", str(data), "--out", "run.npz", "--log", "run.csv"],
                             cwd=folder, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first_event = json.loads(child.stdout.readline() or "{}")
        assert first_event.get("event") == "epoch", child.stderr.read() if child.poll() is not None else first_event
        time.sleep(delay)
        child.send_signal(first)
        time.sleep(0.02)
        if second is not None and child.poll() is None:
            child.send_signal(second)
        _, stderr = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    return child.returncode, stderr


def _named_epochs(line: str) -> set[int]:
    return {int(n) for n in re.findall(r"\bepoch (\d+)\b", line)}


def _check_stopped_cleanly(folder: Path, code: int, stderr: str, first: int, shown: str) -> None:
    assert code == CODES[first], shown  # the first signal's code; not -15: no later signal killed it
    lines = stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, shown
    held = load_checkpoint(folder / "run.npz").epoch
    assert held in _named_epochs(lines[0]) and _named_epochs(lines[0]) <= {held, held + 1}, f"run.npz holds epoch {held}\n{shown}"
    with open(folder / "run.csv", newline="") as handle:
        assert [int(row["epoch"]) for row in csv.DictReader(handle)] == list(range(1, held + 1)), shown
    leftovers = [name for name in os.listdir(folder) if name.startswith(".") or name.endswith(".tmp")]
    assert leftovers == [], shown


@pytest.mark.parametrize("trial", range(6))
def test_a_signal_at_a_random_moment_names_the_epoch_the_file_holds(tiny_mnist, tmp_path, trial):
    rng = random.Random(trial)
    first = rng.choice(list(CODES))
    code, stderr = _stop_twice(tmp_path, tiny_mnist, first, None, delay=rng.uniform(0.0, 1.5))
    _check_stopped_cleanly(tmp_path, code, stderr, first, f"signal {first!r}: exit {code}\n{stderr}")


@pytest.mark.parametrize("trial", range(6))
def test_a_second_signal_soon_after_the_first_waits_for_the_save_and_the_line(tiny_mnist, tmp_path, trial):
    rng = random.Random(100 + trial)
    first, second = rng.choice(list(CODES)), rng.choice(list(CODES))
    code, stderr = _stop_twice(tmp_path, tiny_mnist, first, second, delay=rng.uniform(0.0, 1.5))
    _check_stopped_cleanly(tmp_path, code, stderr, first, f"signals {first!r} then {second!r}: exit {code}\n{stderr}")
