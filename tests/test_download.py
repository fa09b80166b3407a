"""``purenet.data.download`` against a local HTTP server on 127.0.0.1 (never the internet).

The server, a thread in the test session, plays several mirrors, one per path prefix:

    /good/     the committed MNIST .gz files (recompressed, so only their content matches)
    /corrupt/  those files with one byte flipped (the gzip stream breaks)
    /wrong/    a valid gzip of the wrong file (only the SHA-256 of the content can tell)
    /missing/  404 for everything
    /drop/     promises the whole file (Content-Length), sends half, hangs up
"""

from __future__ import annotations

import os
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from conftest import MNIST_DIR, serve_locally

from purenet.data import load
from purenet.data.download import SHA256, DownloadError, download_mnist, ensure_mnist

NAMES = [f"{name}.gz" for name in SHA256]
REAL = {name: (MNIST_DIR / name).read_bytes() for name in NAMES}


def corrupt(raw: bytes) -> bytes:
    middle = len(raw) // 2
    return raw[:middle] + bytes([raw[middle] ^ 0xFF]) + raw[middle + 1 :]


def other_file(name: str) -> bytes:
    """A genuine MNIST .gz, but not the one asked for."""
    return REAL[NAMES[(NAMES.index(name) + 1) % len(NAMES)]]


class Mirrors(BaseHTTPRequestHandler):
    served: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
        Mirrors.served.append(self.path)
        kind, _, name = self.path.strip("/").partition("/")
        if kind == "missing" or name not in REAL:
            self.send_error(404)
            return
        body = {"good": REAL[name], "drop": REAL[name], "corrupt": corrupt(REAL[name]), "wrong": other_file(name)}[kind]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2] if kind == "drop" else body)
        self.close_connection = True

    def log_message(self, *args) -> None:  # keep the test output quiet
        pass


@pytest.fixture(scope="module")
def server():
    with serve_locally(Mirrors) as url:
        yield url


@pytest.fixture
def mirror(server):
    Mirrors.served.clear()
    return lambda kind: f"{server}/{kind}/"


def assert_complete(folder: Path) -> None:
    """The four verified files and nothing else (no temporary file left behind)."""
    assert sorted(p.name for p in folder.iterdir()) == sorted(NAMES)
    for name in NAMES:
        assert (folder / name).read_bytes() == REAL[name]


def test_good_mirror_downloads_and_verifies(tmp_path, mirror, mnist):
    folder = download_mnist(tmp_path / "new" / "mnist", mirrors=[mirror("good")])
    assert folder == tmp_path / "new" / "mnist"
    assert_complete(folder)
    assert load(folder) == mnist


@pytest.mark.slow
@pytest.mark.parametrize("bad", ["corrupt", "wrong", "missing", "drop"])
def test_bad_first_mirror_falls_back_to_the_next(tmp_path, mirror, bad):
    download_mnist(tmp_path, mirrors=[mirror(bad), mirror("good")])
    assert_complete(tmp_path)
    assert [path.split("/")[1] for path in Mirrors.served] == [bad, "good"] * 4


def test_all_mirrors_bad_leaves_nothing_behind(tmp_path, mirror):
    mirrors = [mirror("corrupt"), mirror("missing"), mirror("drop"), mirror("wrong")]
    with pytest.raises(DownloadError) as info:
        download_mnist(tmp_path, mirrors=mirrors)
    assert list(tmp_path.iterdir()) == []
    message = str(info.value)
    assert str(tmp_path) in message and "train-images-idx3-ubyte.gz" in message
    for url in mirrors:
        assert url in message  # says what was tried
    assert "HTTP 404" in message and "does not match" in message and "closed after" in message
    assert "Offline" in message and "--data" in message  # and what to do


def test_unreachable_mirror_is_reported(tmp_path, server):
    port = int(server.rsplit(":", 1)[1])
    closed = f"http://127.0.0.1:{port + 1 if port < 65535 else port - 1}/"
    with pytest.raises(DownloadError, match="cannot connect"):
        download_mnist(tmp_path, mirrors=[closed], timeout=2)
    assert list(tmp_path.iterdir()) == []


# --- file:// mirrors: a folder of the .gz files (a USB stick, a network share) ------------------------


def file_mirror(folder: Path, files: dict[str, bytes]) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder.as_uri() + "/"


def test_a_file_mirror_downloads_and_verifies(tmp_path, mnist):
    calls = []
    folder = download_mnist(tmp_path / "mnist", mirrors=[file_mirror(tmp_path / "stick", REAL)],
                            progress=lambda *call: calls.append(call))
    assert_complete(folder)
    assert load(folder) == mnist
    for name in NAMES:  # the size is known, as from an HTTP mirror
        assert (name, len(REAL[name]), len(REAL[name])) in calls


def test_bad_file_mirrors_fall_back_to_the_next(tmp_path):
    """A missing file, a damaged one, a FIFO (refused, never opened: it would block), then a good mirror."""
    missing = file_mirror(tmp_path / "empty", {})
    damaged = file_mirror(tmp_path / "damaged", {name: corrupt(data) for name, data in REAL.items()})
    (tmp_path / "pipes").mkdir()
    for name in NAMES:
        os.mkfifo(tmp_path / "pipes" / name)
    pipes = (tmp_path / "pipes").as_uri() + "/"
    with pytest.raises(DownloadError) as info:
        download_mnist(tmp_path / "out", mirrors=[missing, damaged, pipes])
    message = str(info.value)
    assert ("cannot read it: No such file or directory" in message and "not a valid gzip file" in message
            and "is a named pipe (FIFO), not a file" in message)
    assert not (tmp_path / "out").exists()
    download_mnist(tmp_path / "out", mirrors=[missing, damaged, pipes, file_mirror(tmp_path / "good", REAL)])
    assert_complete(tmp_path / "out")


def test_progress_is_reported_for_every_file(tmp_path, mirror):
    calls = []
    download_mnist(tmp_path, mirrors=[mirror("good")], progress=lambda *call: calls.append(call))
    for name in NAMES:
        mine = [(done, total) for file, done, total in calls if file == name]
        assert mine[0] == (0, len(REAL[name]))
        assert mine[-1] == (len(REAL[name]), len(REAL[name]))
        dones = [done for done, _ in mine]
        assert dones == sorted(dones)


def test_verified_files_already_there_are_kept(tmp_path, mirror):
    for name in NAMES:
        (tmp_path / name).write_bytes(REAL[name])
    download_mnist(tmp_path, mirrors=[mirror("missing")])  # would fail if it fetched anything
    assert Mirrors.served == []
    assert_complete(tmp_path)


def test_a_damaged_file_already_there_is_kept_untouched(tmp_path, mirror):
    for name in NAMES:
        (tmp_path / name).write_bytes(REAL[name])
    (tmp_path / NAMES[1]).write_bytes(corrupt(REAL[NAMES[1]]))
    download_mnist(tmp_path, mirrors=[mirror("good")])
    assert Mirrors.served == []  # present is present: the user's file is never replaced
    assert (tmp_path / NAMES[1]).read_bytes() == corrupt(REAL[NAMES[1]])


def test_ensure_keeps_a_folder_that_holds_the_files(tmp_path, mirror):
    for name in NAMES:
        (tmp_path / name.replace("-idx", ".idx")).write_bytes(REAL[name])  # the other naming
    assert ensure_mnist(tmp_path, mirrors=[mirror("missing")]) == tmp_path
    assert Mirrors.served == []


def test_ensure_downloads_what_is_missing(tmp_path, mirror):
    assert ensure_mnist(tmp_path / "mnist", mirrors=[mirror("good")]) == tmp_path / "mnist"
    assert_complete(tmp_path / "mnist")


# ----------------------------------------------------------------- through the command line


def cli(*args: str, env: dict | None = None):
    from typer.testing import CliRunner

    from purenet.cli.app import app

    return CliRunner().invoke(app, list(args), env=env)


def test_download_command_fetches_and_verifies(mirror, tmp_path):
    result = cli("download", str(tmp_path / "mnist"), "--mirror", mirror("missing"), "--mirror", mirror("good"))
    assert result.exit_code == 0, result.output
    assert_complete(tmp_path / "mnist")
    assert "verified" in result.stderr


def test_download_command_fails_in_one_line_and_leaves_nothing(mirror, tmp_path):
    result = cli("download", str(tmp_path / "mnist"), "--mirror", mirror("corrupt"), "--mirror", mirror("drop"))
    assert result.exit_code == 2
    last = result.stderr.strip().splitlines()[-1]  # after the progress lines, one line says what failed
    assert last.startswith("purenet: error:") and "Offline?" in last and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []  # not even the folder it created


@pytest.mark.slow
def test_train_downloads_a_missing_default_folder(mirror, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = {"PURENET_DATA": str(tmp_path / "fresh"), "PURENET_MIRRORS": mirror("good"), "XDG_STATE_HOME": str(tmp_path)}
    result = cli("train", "--layers", "784,8,10", "--epochs", "1", "--json", env=env)
    assert result.exit_code == 0, result.output
    assert "downloading" in result.stderr
    assert_complete(tmp_path / "fresh")
