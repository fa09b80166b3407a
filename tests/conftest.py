"""Shared test setup: floating-point errors raise, and MNIST is loaded once."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import tracemalloc
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

# One BLAS thread for the suite (before NumPy loads): on a shared 2-core machine a
# second BLAS thread that waits for a busy core can make a small product 10x slower.
# Speed is measured by `purenet bench`, not by tests; set the variable to override.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")
# And the same count as --threads's default (PURENET_THREADS) for every command a test runs,
# here or in a subprocess, even one that drops the variables above: a run's last bits depend
# on its thread count, so a count the policy took from the machine's load could make two runs
# that a test compares differ on a busy machine. Not the usable cores: in-process commands set
# the count for the whole test process, and a second thread beside a busy core is the slow
# case above. The tests of the policy clear it (or pass --threads auto).
os.environ.setdefault("PURENET_THREADS", os.environ["OPENBLAS_NUM_THREADS"])

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
MNIST_DIR = ROOT / "data" / "mnist"


# Hidden overflows, divisions by zero and NaNs fail the suite; underflow to 0 is fine.
np.seterr(over="raise", divide="raise", invalid="raise", under="ignore")


@pytest.fixture(scope="session")
def mnist():
    """The committed MNIST (data/mnist), loaded once per test session."""
    from purenet.data import load

    return load(MNIST_DIR)


def write_idx(path: Path, array: np.ndarray) -> Path:
    """Write a uint8 array as an IDX file (gzipped when ``path`` ends in .gz)."""
    import gzip

    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    payload = header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    path.write_bytes(gzip.compress(payload, compresslevel=1) if path.suffix == ".gz" else payload)
    return path


@pytest.fixture(scope="session")
def small_mnist_dir(tmp_path_factory, mnist) -> Path:
    """A small MNIST in IDX form (3,000 train, 1,000 test), for fast end-to-end runs."""
    folder = tmp_path_factory.mktemp("small-mnist")
    parts = {"train": mnist.train.take(slice(0, 3000)), "t10k": mnist.test.take(slice(0, 1000))}
    for prefix, split in parts.items():
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", split.images.reshape(-1, 28, 28))
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", split.labels)
    return folder


@pytest.fixture(scope="session")
def small_model(tmp_path_factory, small_mnist_dir) -> Path:
    """A checkpoint of a small network trained for 2 epochs on ``small_mnist_dir``."""
    from typer.testing import CliRunner

    from purenet.cli.app import app

    path = tmp_path_factory.mktemp("model") / "small.npz"
    args = ["train", "--layers", "784,64,10", "--epochs", "2", "--data", str(small_mnist_dir), "--out", str(path)]
    result = CliRunner().invoke(app, args, env={"XDG_STATE_HOME": str(path.parent / "state")})
    assert result.exit_code == 0, result.output
    return path


@pytest.fixture
def isolated(tmp_path, monkeypatch) -> Path:
    """Run in ``tmp_path``, remembering the 'last model' in a state folder of its own."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


class Blocked(Exception):
    """The code under test waited (for a FIFO's writer, say): raised by ``fail_if_blocked``."""


@contextlib.contextmanager
def fail_if_blocked(seconds: int) -> Iterator[None]:
    """Raise ``Blocked`` in the block after ``seconds`` (SIGALRM), so a hang fails the test instead of the suite."""
    if not hasattr(signal, "SIGALRM"):
        yield
        return

    def blocked(_signum, _frame):
        raise Blocked(f"blocked for {seconds} s")

    previous = signal.signal(signal.SIGALRM, blocked)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def serve_locally(handler) -> Iterator[str]:
    """An HTTP server on 127.0.0.1 (never an outside address) answering with ``handler``; yields its URL."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


PEAK_RESIDENT = """
def peak_resident_bytes():
    # VmHWM: this process's own high-water mark of resident memory. Not ru_maxrss: Linux
    # carries a forked parent's resident size across exec into the child's ru_maxrss, so a
    # child of a large test process would report the test process's size.
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))
"""
"""Source of ``peak_resident_bytes()``, for the scripts that tests run in a process of their own."""

has_peak_resident = os.path.exists("/proc/self/status")


def traced_peak(call: Callable[[], Any]) -> tuple[Any, int]:
    """(what ``call()`` returned, the most bytes allocated while it ran, as tracemalloc sees
    Python's and NumPy's allocations): how the refusal tests show nothing big was allocated."""
    tracemalloc.start()
    try:
        result = call()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
