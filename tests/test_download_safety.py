"""The downloader writes only what is missing and never touches what the user has.

Against a local HTTP server on 127.0.0.1 (never the internet) that serves small fake
payloads; ``purenet.data.download.SHA256`` is patched to their checksums, so every test is fast.
Real MNIST copies (data/mnist) stand for the files a user already has.

    /fake/NAME     a small gzip whose content checksum is the patched SHA256[NAME]
    /missing/NAME  404
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import stat
import subprocess
import sys
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
import typer
from conftest import MNIST_DIR, serve_locally

import purenet.data.download as download
from purenet.data import missing_idx_files
from purenet.data.download import DownloadError, download_mnist, ensure_mnist

STEMS = list(download.SHA256)  # train-images, train-labels, t10k-images, t10k-labels
CONTENT = {stem: f"fake {stem}\n".encode() * 50 for stem in STEMS}
PAYLOAD = {f"{stem}.gz": gzip.compress(CONTENT[stem]) for stem in STEMS}
FAKE_SHA256 = {stem: hashlib.sha256(CONTENT[stem]).hexdigest() for stem in STEMS}
OTHER = {stem: f"Fashion-MNIST, not MNIST: {stem}\n".encode() for stem in STEMS}  # the user's own data


class Server(BaseHTTPRequestHandler):
    served: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
        Server.served.append(self.path)
        kind, _, name = self.path.strip("/").partition("/")
        if kind != "fake" or name not in PAYLOAD:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(PAYLOAD[name])))
        self.end_headers()
        self.wfile.write(PAYLOAD[name])
        self.close_connection = True

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def server():
    with serve_locally(Server) as url:
        yield url


@pytest.fixture
def fake(server, monkeypatch):
    """The URL of the fake mirror, with SHA256 patched to its payloads' checksums."""
    Server.served.clear()
    monkeypatch.setattr(download, "SHA256", dict(FAKE_SHA256))
    return f"{server}/fake/"


@pytest.fixture
def missing(server):
    Server.served.clear()
    return f"{server}/missing/"


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(folder: Path) -> dict[str, str]:
    """Every file of ``folder`` (hidden ones too) and the SHA-256 of its bytes."""
    return {path.name: sha(path) for path in folder.iterdir()}


def real(stem: str, *, raw: bool) -> bytes:
    data = (MNIST_DIR / f"{stem}.gz").read_bytes()
    return gzip.decompress(data) if raw else data


def other_naming(stem: str) -> str:
    return stem.replace("-idx", ".idx")


# --------------------------------------------------------- three of four: only the missing one


def _user_file(folder: Path, stem: str, kind: str) -> Path:
    """One file as a user might have it: ``kind`` is content-naming-compression."""
    content, naming, packing = kind.split("-")
    name = stem if naming == "std" else other_naming(stem)
    raw = packing == "raw"
    if content == "mnist":
        data = real(stem, raw=raw)
    else:
        data = OTHER[stem] if raw else gzip.compress(OTHER[stem])
    path = folder / (name if raw else f"{name}.gz")
    path.write_bytes(data)
    return path


CASES = {  # the missing file, and what the user has for the other three
    "mnist-gz": (3, ["mnist-std-gz"] * 3),
    "mnist-raw": (0, ["mnist-std-raw"] * 3),
    "mnist-other-naming": (1, ["mnist-other-gz"] * 3),
    "fashion-gz": (2, ["fashion-std-gz"] * 3),
    "fashion-raw-other-naming": (3, ["fashion-other-raw"] * 3),
    "mixed": (0, ["mnist-other-raw", "fashion-std-gz", "mnist-std-gz"]),
}


@pytest.mark.parametrize("case", CASES)
def test_only_the_missing_file_is_fetched_and_the_others_are_untouched(tmp_path, fake, case):
    lacking, kinds = CASES[case]
    others = [stem for i, stem in enumerate(STEMS) if i != lacking]
    for stem, kind in zip(others, kinds):
        _user_file(tmp_path, stem, kind)
    before = snapshot(tmp_path)
    stats = {name: os.stat(tmp_path / name) for name in before}
    assert missing_idx_files(tmp_path) == [STEMS[lacking]]

    download_mnist(tmp_path, mirrors=[fake])

    assert Server.served == [f"/fake/{STEMS[lacking]}.gz"]  # nothing else was fetched, so nothing verified-and-replaced
    after = snapshot(tmp_path)
    assert set(after) == set(before) | {f"{STEMS[lacking]}.gz"}  # one new file, no temporary file
    for name, digest in before.items():
        assert after[name] == digest
        assert os.stat(tmp_path / name).st_ino == stats[name].st_ino  # the same file, not a copy put in its place
        assert os.stat(tmp_path / name).st_mtime_ns == stats[name].st_mtime_ns
    assert gzip.decompress((tmp_path / f"{STEMS[lacking]}.gz").read_bytes()) == CONTENT[STEMS[lacking]]
    assert missing_idx_files(tmp_path) == []


def test_ensure_mnist_fetches_only_the_missing_file(tmp_path, fake):
    for stem in STEMS[1:]:
        _user_file(tmp_path, stem, "fashion-std-gz")
    before = snapshot(tmp_path)
    assert ensure_mnist(tmp_path, mirrors=[fake]) == tmp_path
    assert Server.served == [f"/fake/{STEMS[0]}.gz"]
    after = snapshot(tmp_path)
    assert {name: after[name] for name in before} == before and len(after) == 4


def test_a_file_that_appears_meanwhile_is_not_replaced(tmp_path, fake):
    target = tmp_path / f"{STEMS[0]}.gz"

    def progress(name, done, total):
        if name == target.name and not target.exists():
            target.write_bytes(b"written by someone else meanwhile")

    download_mnist(tmp_path, mirrors=[fake], progress=progress)
    assert target.read_bytes() == b"written by someone else meanwhile"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(PAYLOAD)  # and no temporary file


def test_something_in_the_way_is_refused_before_any_download(tmp_path, fake):
    (tmp_path / f"{STEMS[2]}.gz").mkdir()  # a folder where the file would go
    with pytest.raises(DownloadError, match="in the way") as info:
        download_mnist(tmp_path, mirrors=[fake])
    assert str(tmp_path / f"{STEMS[2]}.gz") in str(info.value)
    assert Server.served == []
    assert [p.name for p in tmp_path.iterdir()] == [f"{STEMS[2]}.gz"]


# --------------------------------------------------------- permissions from the umask


def test_new_files_and_folders_follow_the_umask(tmp_path, fake):
    old = os.umask(0o027)
    try:
        download_mnist(tmp_path / "new" / "mnist", mirrors=[fake])
    finally:
        os.umask(old)
    for folder in (tmp_path / "new", tmp_path / "new" / "mnist"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o750
    for name in PAYLOAD:
        assert stat.S_IMODE((tmp_path / "new" / "mnist" / name).stat().st_mode) == 0o640


# --------------------------------------------------------- failures leave nothing behind


def test_a_failed_download_into_new_nested_folders_leaves_none_of_them(tmp_path, missing):
    with pytest.raises(DownloadError, match="could not download"):
        download_mnist(tmp_path / "a" / "b" / "c", mirrors=[missing])
    assert list(tmp_path.iterdir()) == []


def test_a_failure_after_some_files_keeps_them_and_says_so(tmp_path, fake, monkeypatch):
    monkeypatch.setitem(download.SHA256, STEMS[2], "0" * 64)  # no mirror can deliver this one
    with pytest.raises(DownloadError) as info:
        download_mnist(tmp_path / "a" / "b", mirrors=[fake])
    assert sorted(p.name for p in (tmp_path / "a" / "b").iterdir()) == sorted([f"{STEMS[0]}.gz", f"{STEMS[1]}.gz"])
    message = str(info.value)
    assert "Kept what this run fetched" in message and f"{STEMS[0]}.gz" in message
    assert f"still missing ({STEMS[2]}.gz, {STEMS[3]}.gz)" in message
    Server.served.clear()
    monkeypatch.setitem(download.SHA256, STEMS[2], FAKE_SHA256[STEMS[2]])
    download_mnist(tmp_path / "a" / "b", mirrors=[fake])  # the next run fetches only the rest
    assert Server.served == [f"/fake/{STEMS[2]}.gz", f"/fake/{STEMS[3]}.gz"]


def interrupt_on(stem: str):
    """A progress callback that presses Ctrl-C when ``stem`` is half-way written."""

    def progress(name, done, total):
        if name == f"{stem}.gz" and done > 0:
            raise KeyboardInterrupt

    return progress


def test_ctrl_c_in_a_new_folder_leaves_no_temp_and_no_folder(tmp_path, fake):
    with pytest.raises(KeyboardInterrupt):
        download_mnist(tmp_path / "x" / "mnist", mirrors=[fake], progress=interrupt_on(STEMS[0]))
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_keeps_the_files_already_fetched_and_no_temp(tmp_path, fake):
    (tmp_path / "mine.txt").write_text("the user's")
    with pytest.raises(KeyboardInterrupt):
        download_mnist(tmp_path, mirrors=[fake], progress=interrupt_on(STEMS[2]))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["mine.txt", f"{STEMS[0]}.gz", f"{STEMS[1]}.gz"])


def test_a_temp_left_by_a_killed_download_is_removed_by_the_next(tmp_path, fake):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".{STEMS[0]}.gz.{dead.pid}.0123abcd.tmp"
    stale.write_bytes(b"half a file")
    download_mnist(tmp_path, mirrors=[fake])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(PAYLOAD)


# --------------------------------------------------------- refused before any network access


def test_a_target_that_is_a_file_is_refused(tmp_path, fake):
    target = tmp_path / "mnist"
    target.write_bytes(b"not a folder")
    with pytest.raises(DownloadError, match="is not a folder"):
        download_mnist(target, mirrors=[fake])
    with pytest.raises(DownloadError, match="cannot create the folder"):
        download_mnist(target / "sub", mirrors=[fake])
    assert Server.served == [] and target.read_bytes() == b"not a folder"


@pytest.fixture
def unwritable(tmp_path):
    """A folder nobody may create files in: mode 0o555, or for root (whom modes do not stop) immutable."""
    folder = tmp_path / "readonly"
    folder.mkdir()
    folder.chmod(0o555)
    root = hasattr(os, "geteuid") and os.geteuid() == 0
    if root and (not shutil.which("chattr") or subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode):
        folder.chmod(0o755)
        pytest.skip("running as root, whom folder permissions do not stop, and chattr +i (which would) is not available here")
    try:
        yield folder
    finally:
        if root:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        folder.chmod(0o755)


def test_a_folder_that_cannot_be_written_is_refused(unwritable, fake):
    with pytest.raises(DownloadError, match="cannot write the MNIST files there"):
        download_mnist(unwritable, mirrors=[fake])
    assert Server.served == [] and list(unwritable.iterdir()) == []


def test_cli_refuses_a_folder_that_cannot_be_written_in_one_line(unwritable, fake):
    result = cli("download", str(unwritable), "--mirror", fake)
    assert result.exit_code == 2 and Server.served == []
    assert _one_error_line(result).startswith(f"purenet: error: {unwritable}: cannot write the MNIST files there (")


def test_a_complete_folder_is_left_alone_even_if_read_only(tmp_path, fake):
    for stem in STEMS:
        _user_file(tmp_path, stem, "fashion-other-raw")
    before = snapshot(tmp_path)
    tmp_path.chmod(0o555)
    try:
        assert download_mnist(tmp_path, mirrors=[fake]) == tmp_path
    finally:
        tmp_path.chmod(0o755)
    assert Server.served == [] and snapshot(tmp_path) == before


# --------------------------------------------------------- through the command line


def cli(*args: str, env: dict | None = None):
    from typer.testing import CliRunner

    from purenet.cli.app import app

    return CliRunner().invoke(app, list(args), env=env)


def _one_error_line(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.startswith("purenet: error:")]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def test_cli_says_what_it_fetched_and_what_it_kept(tmp_path, fake, monkeypatch):
    real_sums = {stem: hashlib.sha256(real(stem, raw=True)).hexdigest() for stem in STEMS}
    monkeypatch.setattr(download, "SHA256", {**real_sums, STEMS[3]: FAKE_SHA256[STEMS[3]]})
    _user_file(tmp_path, STEMS[0], "mnist-other-raw")
    _user_file(tmp_path, STEMS[1], "mnist-std-gz")
    _user_file(tmp_path, STEMS[2], "fashion-std-gz")
    before = snapshot(tmp_path)
    result = cli("download", str(tmp_path), "--mirror", fake)
    assert result.exit_code == 0, result.output
    assert Server.served == [f"/fake/{STEMS[3]}.gz"]
    assert {name: digest for name, digest in snapshot(tmp_path).items() if name in before} == before
    lines = result.stderr.splitlines()
    summary = next(line for line in lines if line.startswith("fetched"))
    assert f"fetched {STEMS[3]}.gz into {tmp_path}" in summary and "verified" in summary
    assert f"kept the 3 files already there untouched ({other_naming(STEMS[0])}, {STEMS[1]}.gz, {STEMS[2]}.gz)" in summary
    notes = [line for line in lines if line.startswith("purenet: warning:")]
    assert len(notes) == 1 and f"{STEMS[2]}.gz" in notes[0] and "differs from MNIST's published SHA-256" in notes[0]
    assert STEMS[1] not in notes[0] and other_naming(STEMS[0]) not in notes[0]  # the real copies are MNIST's
    assert "purenet: error:" not in result.stderr

    Server.served.clear()
    again = cli("download", str(tmp_path), "--mirror", fake)  # complete now: fetches nothing, keeps all
    assert again.exit_code == 0 and Server.served == []
    assert "already holds all four files" in again.stderr and "fetched nothing" in again.stderr


def test_cli_refuses_a_target_that_is_a_file_in_one_line(tmp_path, fake):
    target = tmp_path / "data"
    target.write_bytes(b"my notes")
    result = cli("download", str(target), "--mirror", fake)
    assert result.exit_code == 2
    assert _one_error_line(result) == f"purenet: error: {target}: is not a folder, so purenet cannot write the MNIST files there"
    assert result.stderr.strip().count("\n") == 0
    assert target.read_bytes() == b"my notes" and Server.served == []


def test_cli_failure_in_a_new_folder_leaves_nothing(tmp_path, missing):
    result = cli("download", str(tmp_path / "a" / "b" / "c"), "--mirror", missing)
    assert result.exit_code == 2
    assert "could not download" in _one_error_line(result)
    assert list(tmp_path.iterdir()) == []


def test_cli_ctrl_c_exits_130_in_one_line_keeping_what_it_fetched(tmp_path, fake, monkeypatch):
    import purenet.cli.download as command

    monkeypatch.setattr(command, "_plain_progress", lambda: interrupt_on(STEMS[1]))
    _user_file(tmp_path, STEMS[3], "fashion-std-gz")
    result = cli("download", str(tmp_path), "--mirror", fake)
    assert result.exit_code == 130
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("interrupted:") and "Traceback" not in result.stderr
    assert lines[0] == (
        f"interrupted: kept {STEMS[0]}.gz (fetched, complete and verified) and {STEMS[3]}.gz (already there, untouched) "
        f"in {tmp_path}; no partial file is left; run the same command again to fetch the rest"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([f"{STEMS[0]}.gz", f"{STEMS[3]}.gz"])


def test_cli_ctrl_c_in_a_new_folder_leaves_no_folder(tmp_path, fake, monkeypatch):
    import purenet.cli.download as command

    monkeypatch.setattr(command, "_plain_progress", lambda: interrupt_on(STEMS[0]))
    result = cli("download", str(tmp_path / "new" / "mnist"), "--mirror", fake)
    assert result.exit_code == 130
    assert result.stderr.strip().splitlines() == [
        "interrupted: nothing was written, and no folder is left behind; run the same command again to fetch the rest"
    ]
    assert list(tmp_path.iterdir()) == []


def test_default_data_fetches_only_what_is_missing(tmp_path, fake, monkeypatch, capsys):
    from purenet.cli.download import ensure_default_data

    monkeypatch.setenv("PURENET_MIRRORS", fake)
    for stem in STEMS[:3]:
        _user_file(tmp_path, stem, "fashion-std-gz")
    before = snapshot(tmp_path)
    ensure_default_data(tmp_path)
    assert Server.served == [f"/fake/{STEMS[3]}.gz"]
    assert {name: digest for name, digest in snapshot(tmp_path).items() if name in before} == before
    err = capsys.readouterr().err
    assert f"downloading {STEMS[3]}.gz" in err and f"fetched {STEMS[3]}.gz" in err and "purenet: warning:" in err


def test_default_data_ctrl_c_exits_130(tmp_path, fake, monkeypatch, capsys):
    import purenet.cli.download as command

    monkeypatch.setenv("PURENET_MIRRORS", fake)
    monkeypatch.setattr(command, "_plain_progress", lambda: interrupt_on(STEMS[0]))
    try:
        command.ensure_default_data(tmp_path / "fresh")
    except KeyboardInterrupt:  # would stop the whole test session
        pytest.fail("Ctrl-C escaped ensure_default_data instead of becoming exit 130")
    except typer.Exit as exit:
        assert exit.exit_code == 130
    else:
        pytest.fail("ensure_default_data did not exit")
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("interrupted:")
    assert list(tmp_path.iterdir()) == []


def test_a_folder_under_home_is_expanded(tmp_path, fake, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")  # where a literal "~" folder would land
    assert ensure_mnist("~/mnist", mirrors=[fake]) == tmp_path / "mnist"
    assert list((tmp_path / "cwd").iterdir()) == []
    assert sorted(p.name for p in (tmp_path / "mnist").iterdir()) == sorted(PAYLOAD)


def test_a_disk_without_room_for_a_file_is_said_before_its_first_byte(tmp_path, fake, monkeypatch):
    """The server announces the size: a full disk is one error at once, no progress shown, nothing left."""

    class NoRoom:
        f_bavail, f_frsize = 0, 4096

    monkeypatch.setattr(download.os, "fstatvfs", lambda fd: NoRoom)
    progress: list[str] = []
    with pytest.raises(DownloadError, match="No space left on device"):
        download_mnist(tmp_path / "d", mirrors=[fake], progress=lambda name, done, total: progress.append(name))
    assert progress == [] and list(tmp_path.iterdir()) == []
