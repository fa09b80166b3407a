"""Data sets by name (``purenet.data.named``), fetched from a local HTTP server on 127.0.0.1 (never the internet).

The server plays the publishers' mirrors, one per path prefix, serving files made here in
the real formats (small IDX ``.gz`` files, an EMNIST-like ``gzip.zip``); the registry's
checksums are patched to theirs for each test:

    /good/      the files as made
    /recompressed/  the same content, gzipped again (other bytes, so only the content's SHA-256 can match)
    /wrong/     a valid gzip of other content (one more image than the header of the real file has)
    /missing/   404 for everything
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import zipfile
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import attrs
import numpy as np
import pytest
from conftest import serve_locally
from typer.testing import CliRunner

from purenet.cli.app import app
from purenet.data import DataError, named
from purenet.data.download import DownloadError, RemoteFile, verify
from purenet.data.named import DATASETS, data_setting, ensure_named, is_named, load_named

RNG = np.random.default_rng(0)
TRAIN, TEST = 40, 12


def idx_bytes(array: np.ndarray) -> bytes:
    array = np.asarray(array, dtype=np.uint8)
    return bytes([0, 0, 8, array.ndim]) + b"".join(n.to_bytes(4, "big") for n in array.shape) + array.tobytes()


def gz(data: bytes, mtime: int = 0) -> bytes:
    return gzip.compress(data, mtime=mtime)


def images(n: int) -> np.ndarray:
    return RNG.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)


# A Fashion-like set: the four IDX files, labels 0-9.
IDX_CONTENT = {
    "train-images-idx3-ubyte": idx_bytes(images(TRAIN)),
    "train-labels-idx1-ubyte": idx_bytes(np.arange(TRAIN) % 10),
    "t10k-images-idx3-ubyte": idx_bytes(images(TEST)),
    "t10k-labels-idx1-ubyte": idx_bytes(np.arange(TEST) % 10),
}

# An EMNIST-like gzip.zip: letters (labels 1-26) and balanced (0-46), images stored transposed.
LETTERS = {part: (images(n), 1 + np.arange(n) % 26) for part, n in (("train", 52), ("test", 26))}
BALANCED = {part: (images(n), np.arange(n) % 47) for part, n in (("train", 94), ("test", 47))}


def emnist_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for split, parts in (("letters", LETTERS), ("balanced", BALANCED)):
            for part, (pictures, labels) in parts.items():
                stored = pictures.transpose(0, 2, 1)  # as NIST stores them: column by column
                archive.writestr(f"gzip/emnist-{split}-{part}-images-idx3-ubyte.gz", gz(idx_bytes(stored)))
                archive.writestr(f"gzip/emnist-{split}-{part}-labels-idx1-ubyte.gz", gz(idx_bytes(labels)))
    return buffer.getvalue()


FILES = {f"{stem}.gz": gz(content) for stem, content in IDX_CONTENT.items()} | {"gzip.zip": emnist_zip()}
RECOMPRESSED = {f"{stem}.gz": gz(content, mtime=12345) for stem, content in IDX_CONTENT.items()}
WRONG = {f"{stem}.gz": gz(content + (content[-784:] if "images" in stem else b"\0")) for stem, content in IDX_CONTENT.items()}


class Mirrors(BaseHTTPRequestHandler):
    served: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
        Mirrors.served.append(self.path)
        kind, _, name = self.path.strip("/").partition("/")
        body = {"good": FILES, "recompressed": RECOMPRESSED, "wrong": WRONG}.get(kind, {}).get(name)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def server():
    with serve_locally(Mirrors) as url:
        yield url


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A per-user data folder of the test's own (platformdirs reads XDG_DATA_HOME), and a current folder."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.delenv("PURENET_MIRRORS", raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    Mirrors.served.clear()
    return tmp_path / "share" / "purenet"


def patched(monkeypatch, server, name: str, kind: str = "good", checked: str = "md5") -> None:
    """Point ``name`` at the local mirror ``kind``, its checksums those of the files made here."""
    dataset = DATASETS[name]
    files = []
    for remote in dataset.files:
        made = FILES[remote.name]
        content = gzip.decompress(made) if remote.name.endswith(".gz") else None
        if checked == "md5":
            files.append(attrs.evolve(remote, md5=hashlib.md5(made).hexdigest(), sha256=None, size=len(made)))
        elif checked == "sha256":
            files.append(attrs.evolve(remote, md5="0" * 32, sha256=hashlib.sha256(content).hexdigest()))
        else:  # no checksum published: size and header
            shape = np.frombuffer(content[4 : 4 + 4 * content[3]], ">u4")
            files.append(RemoteFile(remote.name, content_size=len(content), idx_shape=tuple(int(n) for n in shape)))
    monkeypatch.setitem(DATASETS, name, attrs.evolve(dataset, files=tuple(files), mirrors=(f"{server}/{kind}/",)))


def test_the_registry_names_each_data_set_with_its_classes():
    assert list(DATASETS) == ["mnist", "fashion", "kmnist", "emnist-letters", "emnist-balanced", "emnist-digits"]
    counts = {name: dataset.class_count for name, dataset in DATASETS.items()}
    assert counts == {"mnist": 10, "fashion": 10, "kmnist": 10, "emnist-letters": 26, "emnist-balanced": 47, "emnist-digits": 10}
    assert DATASETS["fashion"].classes[7] == "Sneaker" and DATASETS["fashion"].classes[9] == "Ankle boot"
    assert DATASETS["kmnist"].classes == ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo")
    assert DATASETS["emnist-balanced"].classes[36:] == tuple("abdefghnqrt")
    assert {remote.md5 for remote in DATASETS["emnist-letters"].files} == {"58c8d27c78d21e728a6bc7b3cc06412e"}
    assert all(remote.md5 is None and remote.sha256 is None and remote.idx_shape for remote in DATASETS["kmnist"].files)
    assert all(remote.md5 and remote.sha256 for remote in DATASETS["fashion"].files)


def test_a_path_of_that_name_wins_over_the_data_set(home):
    assert is_named("fashion") and data_setting("fashion") == "fashion"
    Path("fashion").mkdir()
    assert not is_named("fashion")
    assert data_setting("fashion") == os.path.abspath("fashion")
    assert not is_named("cifar10") and data_setting("cifar10") == os.path.abspath("cifar10")


@pytest.mark.parametrize("kind, checked", [("good", "md5"), ("recompressed", "sha256"), ("good", "header")])
def test_fetched_into_the_user_folder_verified_and_loaded_with_class_names(home, server, monkeypatch, kind, checked):
    patched(monkeypatch, server, "fashion", kind, checked)
    folder = ensure_named("fashion")
    assert folder == home / "fashion"
    assert sorted(path.name for path in folder.iterdir()) == sorted(remote.name for remote in DATASETS["fashion"].files)
    dataset = load_named("fashion")
    assert dataset.classes == DATASETS["fashion"].classes
    assert dataset.train.images.shape == (TRAIN, 784) and len(dataset.test) == TEST
    assert np.array_equal(dataset.train.labels, np.arange(TRAIN) % 10)


@pytest.mark.parametrize("checked", ["md5", "header"])
def test_a_file_of_other_content_is_refused_and_nothing_is_left(home, server, monkeypatch, checked):
    patched(monkeypatch, server, "fashion", "good", checked)
    monkeypatch.setitem(DATASETS, "fashion", attrs.evolve(DATASETS["fashion"], mirrors=(f"{server}/wrong/",)))
    with pytest.raises(DownloadError, match="does not match|IDX header|decompresses to") as error:
        ensure_named("fashion")
    assert "Offline? Copy the Fashion-MNIST files still missing" in str(error.value)
    assert "\n" not in str(error.value)
    assert not (home / "fashion").exists()  # the folder it made, left empty, is taken back


def test_only_missing_files_are_fetched_and_the_users_are_untouched(home, server, monkeypatch):
    patched(monkeypatch, server, "fashion")
    folder = home / "fashion"
    folder.mkdir(parents=True)
    mine = folder / "train-labels-idx1-ubyte"  # the user's raw copy, another naming purenet reads
    mine.write_bytes(IDX_CONTENT["train-labels-idx1-ubyte"])
    before = mine.stat().st_mtime_ns
    ensure_named("fashion")
    assert sorted(path.rsplit("/", 1)[-1] for path in Mirrors.served) == sorted(
        ["train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"])
    assert mine.stat().st_mtime_ns == before and not (folder / "train-labels-idx1-ubyte.gz").exists()
    Mirrors.served.clear()
    ensure_named("fashion")
    assert Mirrors.served == []  # complete: nothing asked for


def test_offline_is_one_line_naming_the_files_and_the_folder(home, server, monkeypatch):
    monkeypatch.setitem(DATASETS, "kmnist", attrs.evolve(DATASETS["kmnist"], mirrors=(f"{server}/missing/",)))
    result = CliRunner().invoke(app, ["train", "--data", "kmnist", "--epochs", "1"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "HTTP 404" in lines[0]
    assert f"into {home / 'kmnist'}" in lines[0] and "t10k-labels-idx1-ubyte.gz" in lines[0]


def test_emnist_letters_read_from_the_zip_turned_and_shifted(home, server, monkeypatch):
    patched(monkeypatch, server, "emnist-letters")
    folder = ensure_named("emnist-letters")
    assert [path.name for path in folder.iterdir()] == ["gzip.zip"]
    dataset = load_named("emnist-letters")
    pictures, labels = LETTERS["train"]
    assert np.array_equal(dataset.train.images, pictures.reshape(len(pictures), -1))  # as MNIST's: row by row
    assert np.array_equal(dataset.train.labels, labels - 1) and dataset.train.labels.min() == 0
    assert dataset.train.labels.max() == 25 and dataset.classes[:3] == ("a", "b", "c")
    assert dataset.test.image_shape == (28, 28)


def test_a_zip_without_the_member_is_a_clear_error(tmp_path):
    (tmp_path / "gzip.zip").write_bytes(FILES["gzip.zip"])
    with pytest.raises(DataError, match="no member gzip/emnist-digits-train-images"):
        load_named("emnist-digits", tmp_path)
    (tmp_path / "gzip.zip").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="not a zip archive"):
        load_named("emnist-letters", tmp_path)


def test_missing_files_are_named_when_loading(tmp_path):
    with pytest.raises(DataError, match="no gzip.zip of EMNIST Letters"):
        load_named("emnist-letters", tmp_path)


def test_datasets_lists_each_with_whether_it_is_here(home, server, monkeypatch):
    patched(monkeypatch, server, "fashion")
    ensure_named("fashion")
    result = CliRunner().invoke(app, ["datasets", "--json"])
    assert result.exit_code == 0
    rows = {row["name"]: row for row in json.loads(result.output)["datasets"]}
    assert rows["fashion"]["present"] and not rows["kmnist"]["present"]
    assert rows["emnist-letters"]["classes"][:2] == ["a", "b"] and len(rows["emnist-balanced"]["classes"]) == 47
    assert rows["kmnist"]["licence"] == "CC BY-SA 4.0" and rows["fashion"]["licence"] == "MIT"
    table = CliRunner().invoke(app, ["datasets"])
    assert table.exit_code == 0 and "Ankle boot" in table.output and "emnist-balanced" in table.output


@pytest.mark.parametrize("name, classes", [("emnist-letters", 26), ("emnist-balanced", 47)])
def test_more_than_ten_classes_train_and_evaluate_end_to_end(home, server, monkeypatch, name, classes):
    patched(monkeypatch, server, name)
    trained = CliRunner().invoke(app, ["train", "--data", name, "--layers", f"784,8,{classes}", "--epochs", "1",
                                       "--out", "m.npz", "--json", "--threads", "1"])
    assert trained.exit_code == 0, trained.output
    result = CliRunner().invoke(app, ["evaluate", "m.npz", "--json", "--threads", "1"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["data"] == name and len(report["confusion"]) == classes
    assert report["samples"] == len(LETTERS["test"][1] if name == "emnist-letters" else BALANCED["test"][1])


def test_the_last_layer_follows_the_data_sets_classes_unless_given(home, server, monkeypatch):
    patched(monkeypatch, server, "emnist-letters")
    shown = CliRunner().invoke(app, ["train", "--data", "emnist-letters", "--dry-run", "--json"])
    assert shown.exit_code == 0 and json.loads(shown.output)["layers"][-1] == 26
    too_few = CliRunner().invoke(app, ["train", "--data", "emnist-letters", "--layers", "784,8,10", "--epochs", "1"])
    assert too_few.exit_code == 2 and "labels go up to 25" in too_few.output and "end it with 26" in too_few.output


DEBIAN = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist package


@pytest.mark.slow
@pytest.mark.skipif(not DEBIAN.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_debians_fashion_mnist_matches_the_recorded_checksums():
    """Debian recompressed the .gz files (other bytes than the published MD5s'), so their content is what is checked."""
    for remote in DATASETS["fashion"].files:
        assert verify(DEBIAN / remote.name, remote, "Fashion-MNIST") is None
        assert verify(DEBIAN / remote.name, attrs.evolve(remote, md5=None)) is None  # by the content's SHA-256 alone
    # Debian's .gz files differ from the publisher's only in their gzip header (no file name, another time): with
    # the publisher's header put back (its name, and the times below, found by trying each second of July to September 2017), each
    # file has the published MD5, so the content whose SHA-256 is recorded is the publisher's.
    times = {"train": 1504176606, "t10k": 1504176627}
    for remote in DATASETS["fashion"].files:
        raw = (DEBIAN / remote.name).read_bytes()
        assert raw[3] == 0  # FLG: no file name
        header = b"\x1f\x8b\x08\x08" + times["t10k" if remote.name.startswith("t10k") else "train"].to_bytes(4, "little")
        original = header + raw[8:10] + remote.name.removesuffix(".gz").encode() + b"\0" + raw[10:]
        assert hashlib.md5(original).hexdigest() == remote.md5
    dataset = load_named("fashion", DEBIAN)
    assert dataset.train.images.shape == (60_000, 784) and dataset.test.images.shape == (10_000, 784)
    assert np.bincount(dataset.train.labels).tolist() == [6000] * 10


def test_verify_says_what_is_wrong(tmp_path):
    remote = named._idx_files(sizes=(TRAIN, TEST))[0]
    path = tmp_path / remote.name
    path.write_bytes(FILES[remote.name])
    assert verify(path, remote) is None
    path.write_bytes(WRONG[remote.name])
    assert "decompresses to" in verify(path, remote)
    path.write_bytes(b"\x1f\x8b broken")
    assert "not a valid gzip" in verify(path, remote)


def test_emnist_members_are_read_a_chunk_at_a_time(tmp_path):
    """Reading a split from the zip allocates its arrays and little more: the archive is never read whole, and
    the images are turned in place (a naive read would hold the compressed member, the decompressed bytes and a
    transposed copy)."""
    n = 24_000  # 18.8 MB of images, several chunks of the turn
    pictures = np.tile(np.arange(784, dtype=np.uint8).reshape(1, 28, 28), (n, 1, 1))
    pictures[:, 0, 1] = np.arange(n) % 251  # not symmetric, and not all alike
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for part in ("train", "test"):
            archive.writestr(f"gzip/emnist-digits-{part}-images-idx3-ubyte.gz", gz(idx_bytes(pictures.transpose(0, 2, 1))))
            archive.writestr(f"gzip/emnist-digits-{part}-labels-idx1-ubyte.gz", gz(idx_bytes(np.arange(n) % 10)))
    (tmp_path / "gzip.zip").write_bytes(buffer.getvalue())
    del buffer
    from conftest import traced_peak

    dataset, peak = traced_peak(lambda: load_named("emnist-digits", tmp_path))
    assert np.array_equal(dataset.train.images, pictures.reshape(n, -1))
    arrays = 2 * (pictures.nbytes + n)
    assert peak < arrays + 6 * 2**20, (peak, arrays)  # the arrays, one chunk of the turn (3.2 MB) and read buffers
