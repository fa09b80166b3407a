"""The three sequences that once destroyed a user's data with exit 0 (and fail on the code before this fix).

1. ``purenet train --data mydata.npz --out mydata.npz`` (or --out naming an IDX file of the data
   folder, or any other file that is not a purenet checkpoint) replaced the user's file.
2. ``purenet train --out run.npz``, Ctrl-C, ``purenet train --resume run.npz --epochs N`` continued
   into ./model.npz, replacing the model there, and left run.npz at its old epoch.
3. A default data folder missing one of the four MNIST files got the download, which replaced the
   user's *other* files in that folder.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import MNIST_DIR, serve_locally, write_idx
from test_cli_train import installed_purenet
from typer.testing import CliRunner

from purenet.cli.app import app
from purenet.runs.checkpoint import load as load_checkpoint

TINY = ["--layers", "784,16,10", "--epochs", "1", "--batch-size", "64"]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under ``folder``, by relative path."""
    return {str(p.relative_to(folder)): digest(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def one_error(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("purenet: error: "), result.output
    assert "Traceback" not in result.output
    return lines[0]


@pytest.fixture
def tiny_npz(isolated, mnist) -> Path:
    train, test = mnist.train.take(slice(0, 300)), mnist.test.take(slice(0, 100))
    path = isolated / "mydata.npz"
    np.savez(path, x_train=train.images.reshape(-1, 28, 28), y_train=train.labels,
             x_test=test.images.reshape(-1, 28, 28), y_test=test.labels)
    return path


# --- 1. --out never replaces what is not a purenet checkpoint -----------------------------------


def test_out_naming_the_data_file_is_refused(tiny_npz):
    before = snapshot(tiny_npz.parent)
    message = one_error(CliRunner().invoke(app, ["train", "--data", "mydata.npz", "--out", "mydata.npz", *TINY]))
    assert "mydata.npz" in message
    assert snapshot(tiny_npz.parent) == before


def test_out_naming_an_idx_file_of_the_data_folder_is_refused(isolated, small_mnist_dir):
    folder = isolated / "mnist"
    shutil.copytree(small_mnist_dir, folder)
    before = snapshot(isolated)
    target = folder / "train-labels-idx1-ubyte.gz"
    for force in ([], ["--force"]):  # not even --force lets a run write over the data it reads
        message = one_error(CliRunner().invoke(app, ["train", "--data", str(folder), "--out", str(target), *TINY, *force]))
        assert str(target) in message
    assert snapshot(isolated) == before


def test_out_naming_any_other_file_is_refused_unless_forced(tiny_npz):
    notes = tiny_npz.parent / "notes.txt"
    notes.write_text("my notes\n")
    before = snapshot(tiny_npz.parent)
    message = one_error(CliRunner().invoke(app, ["train", "--data", "mydata.npz", "--out", "notes.txt", *TINY]))
    assert "notes.txt: exists and is not a purenet checkpoint" in message and "--force" in message
    assert snapshot(tiny_npz.parent) == before
    result = CliRunner().invoke(app, ["train", "--data", "mydata.npz", "--out", "notes.txt", "--force", *TINY])
    assert result.exit_code == 0 and load_checkpoint(notes).epoch == 1


def test_out_may_replace_a_purenet_checkpoint(tiny_npz):
    for epochs in ("1", "2"):
        result = CliRunner().invoke(app, ["train", "--data", "mydata.npz", "--out", "run.npz", *TINY, "--epochs", epochs])
        assert result.exit_code == 0, result.output
    assert load_checkpoint("run.npz").epoch == 2


# --- 2. --resume X continues into X -------------------------------------------------------------


@pytest.mark.slow
def test_ctrl_c_then_resume_continues_into_the_resumed_file(tiny_npz, mnist):
    model = tiny_npz.parent / "model.npz"
    model.write_bytes(b"the user's own model, not to be touched")
    env = {**os.environ, "XDG_STATE_HOME": str(tiny_npz.parent / "state")}
    big = ["--data", "mydata.npz", "--layers", "784,512,512,10", "--batch-size", "16", "--epochs", "4", "--out", "run.npz", "--json"]
    run = subprocess.Popen([installed_purenet(), "train", *big], cwd=tiny_npz.parent, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert json.loads(run.stdout.readline())["epoch"] == 1  # epoch 1 is saved once it is reported
    run.send_signal(signal.SIGINT)
    _, err = run.communicate(timeout=60)
    assert run.returncode == 130, err
    held = load_checkpoint(tiny_npz.parent / "run.npz").epoch
    assert err.strip().splitlines() == [f"interrupted: run.npz holds epoch {held}; continue with: purenet train --resume run.npz"]

    resumed = subprocess.run([installed_purenet(), "train", "--resume", "run.npz", "--epochs", "5", "--json"],
                             cwd=tiny_npz.parent, env=env, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout.splitlines()[-1])["model"] == "run.npz"
    assert load_checkpoint(tiny_npz.parent / "run.npz").epoch == 5
    assert model.read_bytes() == b"the user's own model, not to be touched"
    assert sorted(p.name for p in tiny_npz.parent.iterdir()) == ["model.npz", "mydata.npz", "run.npz", "state"]


def test_resume_without_out_writes_the_resumed_file(tiny_npz):
    assert CliRunner().invoke(app, ["train", "--data", "mydata.npz", "--out", "run.npz", *TINY]).exit_code == 0
    result = CliRunner().invoke(app, ["train", "--resume", "run.npz", "--epochs", "2"])
    assert result.exit_code == 0, result.output
    assert load_checkpoint("run.npz").epoch == 2 and not Path("model.npz").exists()


# --- 3. the download writes only the missing file -------------------------------------------------


class _Mirror(http.server.BaseHTTPRequestHandler):
    """Serves the committed MNIST files by name."""

    def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
        path = MNIST_DIR / self.path.strip("/").split("/")[-1]
        body = path.read_bytes() if path.is_file() else b""
        self.send_response(200 if body else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def mirror():
    with serve_locally(_Mirror) as url:
        yield url + "/"


def test_a_default_folder_missing_one_file_gets_only_that_file(isolated, mnist, mirror, monkeypatch):
    folder = isolated / "my-digits"  # the user's own IDX files (a subset), one of the four missing
    folder.mkdir()
    write_idx(folder / "train-images-idx3-ubyte.gz", mnist.train.images[:300].reshape(-1, 28, 28))
    write_idx(folder / "train-labels-idx1-ubyte.gz", mnist.train.labels[:300])
    write_idx(folder / "t10k-images-idx3-ubyte.gz", mnist.test.images[:100].reshape(-1, 28, 28))
    before = snapshot(folder)
    monkeypatch.setenv("PURENET_DATA", str(folder))
    monkeypatch.setenv("PURENET_MIRRORS", mirror)
    result = CliRunner().invoke(app, ["train", *TINY])
    after = snapshot(folder)
    assert {name: after[name] for name in before} == before  # the user's three files, byte for byte
    assert set(after) - set(before) == {"t10k-labels-idx1-ubyte.gz"}  # only the missing one was written
    assert after["t10k-labels-idx1-ubyte.gz"] == digest(MNIST_DIR / "t10k-labels-idx1-ubyte.gz")
    # MNIST's 10,000 test labels do not fit the user's 100 test images: one line, no model written
    assert "Traceback" not in result.output and result.exit_code == 2 and not Path("model.npz").exists()
    assert result.stderr.strip().splitlines()[-1].startswith("purenet: error: ")
