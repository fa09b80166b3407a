"""The standing corpus of user mistakes (and a few controls), for tests/test_corpus.py.

Each ``Case`` builds what a user (or an attacker) would have in a fresh folder, gives
the arguments of one ``purenet`` command, and says what must happen:

- ``code``: the exit code (2 for every mistake), or a tuple of the codes accepted where
  either refusing (2) or doing it (0) keeps the promise, but a crash or a hang does not;
- ``lines``: how many lines stderr must hold (1 for a mistake; None: not checked);
- ``needle``: what the error line must name (the file or the option): any one of them;
- ``changes``: files the command may change (relative paths); every other file that
  existed before must keep its SHA-256, and a case that exits 2 may create nothing;
- ``after``: an extra check, ``after(here, result, world)``, once the command is done;
- ``env``: environment variables for the command;
- ``process``: run the installed ``purenet`` script in a process of its own, with a
  timeout, for a command that might hang where no Python signal handler can run.

The builders take ``(world, here)``: ``world`` holds the small data set and the
checkpoints built once per session (see ``World``), ``here`` is the working folder.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import socket
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np
from PIL import Image

OFFLINE_MIRROR = "http://127.0.0.1:9/"
"""A mirror that refuses every connection at once (the discard port on this machine)."""

SMALL = ["--layers", "784,16,10", "--batch-size", "64", "--epochs", "1"]

IDX = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


# --- the session's material ----------------------------------------------------------------


@dataclass
class World:
    """What every case may copy: a small MNIST and real checkpoints, built once."""

    train_x: np.ndarray  # (300, 28, 28) uint8
    train_y: np.ndarray  # (300,) uint8
    test_x: np.ndarray  # (100, 28, 28) uint8
    test_y: np.ndarray  # (100,) uint8
    root: Path  # the session's folder (its files must stay unchanged too)
    idx_dir: Path  # the small MNIST as four .gz IDX files (what base.npz was trained on)
    base: Path  # a real checkpoint: 784-16-10 relu, adam, 1 epoch, trained by `purenet train`
    script: Path  # a checkpoint saved by a script, as docs/api.md shows (no run configuration)
    model400: Path  # a script checkpoint of a 400-16-10 network (20x20 inputs)
    report: dict[str, bytes]  # the three pictures of a real `purenet evaluate --report`
    digit_png: bytes  # a drawing of a test digit, dark on white, as PNG bytes
    before: dict = field(default_factory=dict)  # the snapshot of ``root`` once built (it must not change)

    @property
    def base_arrays(self) -> dict[str, np.ndarray]:
        with np.load(self.base, allow_pickle=False) as archive:
            return {key: archive[key].copy() for key in archive.files}

    @property
    def base_meta(self) -> dict:
        return json.loads(str(self.base_arrays["meta"]))


@dataclass
class Case:
    id: str
    build: Callable[[World, Path], list[str]]
    code: int | tuple[int, ...] = 2
    needle: Sequence[str] = ()
    lines: Optional[int] = 1
    changes: Sequence[str] = ()
    after: Optional[Callable[[Path, Any, World], None]] = None
    env: dict[str, str] = field(default_factory=dict)
    process: bool = False  # run the installed console script (with a timeout): the command may hang in C code

    @property
    def codes(self) -> tuple[int, ...]:
        return self.code if isinstance(self.code, tuple) else (self.code,)


# --- data in every format ----------------------------------------------------------------------


def idx_bytes(array: np.ndarray, kind: int = 0x08, shape: Optional[Sequence[int]] = None, ndim: Optional[int] = None) -> bytes:
    """An IDX file: magic (0, 0, kind, ndim), big-endian sizes, then the bytes."""
    shape = tuple(array.shape if shape is None else shape)
    ndim = len(shape) if ndim is None else ndim
    header = bytes([0, 0, kind, ndim]) + b"".join(int(n).to_bytes(4, "big") for n in shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def idx_folder(w: World, folder: Path, *, gz: bool = True, n_train: int = 300, n_test: int = 100,
               payload: Optional[dict[str, Optional[bytes]]] = None, raw: Optional[dict[str, bytes]] = None,
               x: Optional[np.ndarray] = None, tx: Optional[np.ndarray] = None) -> Path:
    """The four IDX files in ``folder`` (gzipped or raw). ``payload`` replaces a file's
    uncompressed bytes (None: leave the file out); ``raw`` replaces its bytes on disk as they are."""
    folder.mkdir(parents=True, exist_ok=True)
    x = w.train_x[:n_train] if x is None else x
    tx = w.test_x[:n_test] if tx is None else tx
    files: dict[str, Optional[bytes]] = {
        "train_images": idx_bytes(x), "train_labels": idx_bytes(w.train_y[: len(x)]),
        "test_images": idx_bytes(tx), "test_labels": idx_bytes(w.test_y[: len(tx)]),
    }
    files.update(payload or {})
    for key, data in files.items():
        if data is None:
            continue
        name = IDX[key] + (".gz" if gz else "")
        if raw and key in raw:
            (folder / name).write_bytes(raw[key])
        else:
            (folder / name).write_bytes(gzip.compress(data, compresslevel=1) if gz else data)
    return folder


def csv_lines(x: np.ndarray, y: np.ndarray, header: bool = True) -> list[list[str]]:
    flat = x.reshape(len(x), -1)
    rows = [["label", *(f"pixel{i}" for i in range(flat.shape[1]))]] if header else []
    rows += [[str(int(label)), *map(str, image.tolist())] for image, label in zip(flat, y)]
    return rows


def write_csv(path: Path, rows: list[list[str]], sep: str = ",") -> Path:
    path.write_text("\n".join(sep.join(row) for row in rows) + "\n")
    return path


def npz_bytes(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def keras(w: World, **replace) -> dict[str, np.ndarray]:
    arrays = {"x_train": w.train_x, "y_train": w.train_y, "x_test": w.test_x, "y_test": w.test_y}
    arrays.update(replace)
    return {k: v for k, v in arrays.items() if v is not None}


def png_bytes(image: np.ndarray, **info) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "PNG", **info)
    return buffer.getvalue()


def class_folders(w: World, root: Path, per_class: int = 3) -> Path:
    """``root/0/`` .. ``root/9/`` with ``per_class`` PNG digits each (white on black, as MNIST)."""
    for label in range(10):
        folder = root / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        for k, i in enumerate(np.flatnonzero(w.train_y == label)[:per_class]):
            (folder / f"{k}.png").write_bytes(png_bytes(w.train_x[i]))
    return root


def noise(size: int, seed: int = 7) -> bytes:
    """``size`` random bytes, the same on every run."""
    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()


def fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def unix_socket(path: Path) -> Path:
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(path))
    finally:
        server.close()
    return path


def zip_bytes(members: Sequence[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about a duplicate name: wanted here
        with zipfile.ZipFile(buffer, "w") as archive:
            for name, data in members:
                archive.writestr(name, data)
    return buffer.getvalue()


def with_member(archive_path: Path, name: str, data: bytes) -> bytes:
    """The zip at ``archive_path`` with one more member."""
    with zipfile.ZipFile(archive_path) as archive:
        members = [(info.filename, archive.read(info)) for info in archive.infolist()]
    return zip_bytes([*members, (name, data)])


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def huge_npy_header() -> bytes:
    """A .npy whose header claims 10**12 x 784 bytes, holding 16."""
    header = "{'descr': '|u1', 'fortran_order': False, 'shape': (1000000000000, 784), }"
    header = header.ljust(118) + "\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode() + bytes(16)


def bomb_png() -> bytes:
    """A PNG whose header claims 60000 x 60000 pixels (Pillow's decompression-bomb limit is far below)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", 60000, 60000, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 10)) + chunk(b"IEND", b"")


# --- checkpoints -----------------------------------------------------------------------------------


def checkpoint_bytes(w: World, meta: Optional[Callable[[dict], None]] = None, text: Optional[Callable[[str], str]] = None,
                     arrays: Optional[Callable[[dict], None]] = None) -> bytes:
    """A copy of the real checkpoint with its metadata and/or arrays tampered with."""
    content = w.base_arrays
    parsed = json.loads(str(content["meta"]))
    if meta:
        meta(parsed)
    meta_text = json.dumps(parsed)
    if text:
        meta_text = text(meta_text)
    content["meta"] = np.array(meta_text)
    if arrays:
        arrays(content)
    return npz_bytes(**content)


def _set(path: str, value: Any) -> Callable[[dict], None]:
    """A meta tamperer: set the dotted ``path`` (e.g. 'arch.act') to ``value``."""
    def tamper(meta: dict) -> None:
        *parents, last = path.split(".")
        node = meta
        for key in parents:
            node = node[key]
        node[last] = value
    return tamper


def _drop(path: str) -> Callable[[dict], None]:
    def tamper(meta: dict) -> None:
        *parents, last = path.split(".")
        node = meta
        for key in parents:
            node = node[key]
        del node[last]
    return tamper


def _array(key: str, change: Callable[[np.ndarray], np.ndarray]) -> Callable[[dict], None]:
    def tamper(arrays: dict) -> None:
        arrays[key] = change(arrays[key])
    return tamper


def _with_nan(a: np.ndarray) -> np.ndarray:
    a = a.copy()
    a.flat[3] = np.nan
    return a


def _with_inf(a: np.ndarray) -> np.ndarray:
    a = a.copy()
    a.flat[0] = np.inf
    return a


def _deep(levels: int) -> Callable[[str], str]:
    def tamper(text: str) -> str:  # the settings may hold the run's BLAS thread count (PURENET_THREADS, conftest.py)
        nested, marker = '"x": ' + "[" * levels + "]" * levels, '"settings": {'
        assert marker in text
        if marker + "}" in text:
            return text.replace(marker + "}", marker + nested + "}", 1)
        return text.replace(marker, marker + nested + ", ", 1)
    return tamper


def _pickled(a: np.ndarray) -> np.ndarray:
    return np.array([{"evil": 1}, None], dtype=object)


TAMPERED: dict[str, Callable[[World, Path], None]] = {}
"""Damaged checkpoints: name -> make(world, path)."""


def _bytes(make: Callable[[World], bytes]) -> Callable[[World, Path], None]:
    return lambda w, path: path.write_bytes(make(w))


TAMPERED.update({
    "not-a-zip": _bytes(lambda w: b"this is my shopping list, not a checkpoint\n"),
    "empty-file": _bytes(lambda w: b""),
    "truncated": _bytes(lambda w: w.base.read_bytes()[: w.base.stat().st_size // 2]),
    "zip-magic-then-garbage": _bytes(lambda w: b"PK\x03\x04" + noise(64)),
    "a-data-npz": _bytes(lambda w: npz_bytes(**keras(w))),
    "meta-invalid-json": _bytes(lambda w: checkpoint_bytes(w, text=lambda t: t[:-7])),
    "meta-a-list": _bytes(lambda w: checkpoint_bytes(w, text=lambda t: "[1, 2, 3]")),
    "meta-2d-array": _bytes(lambda w: checkpoint_bytes(w, arrays=_array("meta", lambda a: np.array([[str(a)]])))),
    "format-other": _bytes(lambda w: checkpoint_bytes(w, meta=_set("format", "keras"))),
    "version-99": _bytes(lambda w: checkpoint_bytes(w, meta=_set("version", 99))),
    "epoch-missing": _bytes(lambda w: checkpoint_bytes(w, meta=_drop("epoch"))),
    "epoch-negative": _bytes(lambda w: checkpoint_bytes(w, meta=_set("epoch", -1))),
    "epoch-a-string": _bytes(lambda w: checkpoint_bytes(w, meta=_set("epoch", "1"))),
    "epoch-fractional": _bytes(lambda w: checkpoint_bytes(w, meta=_set("epoch", 1.5))),
    "dtype-float16": _bytes(lambda w: checkpoint_bytes(w, meta=_set("dtype", "float16"))),
    "act-unknown": _bytes(lambda w: checkpoint_bytes(w, meta=_set("arch.act", "swish"))),
    "loss-unknown": _bytes(lambda w: checkpoint_bytes(w, meta=_set("arch.loss", "hinge"))),
    "sizes-wrong": _bytes(lambda w: checkpoint_bytes(w, meta=_set("arch.sizes", [784, 17, 10]))),
    "sizes-huge": _bytes(lambda w: checkpoint_bytes(w, meta=_set("arch.sizes", [784, 10**12, 10]))),
    "sizes-not-numbers": _bytes(lambda w: checkpoint_bytes(w, meta=_set("arch.sizes", "784,16,10"))),
    "opt-slots-wrong": _bytes(lambda w: checkpoint_bytes(w, meta=_set("opt_slots", 1))),
    "opt-slots-5": _bytes(lambda w: checkpoint_bytes(w, meta=_set("opt_slots", 5))),
    "opt-step-negative": _bytes(lambda w: checkpoint_bytes(w, meta=_set("opt_step", -5))),
    "rng-state-broken": _bytes(lambda w: checkpoint_bytes(w, meta=_set("rng_state.state", "oops"))),
    "rng-unknown-generator": _bytes(lambda w: checkpoint_bytes(w, meta=_set("rng_state.bit_generator", "os"))),
    "history-not-a-list": _bytes(lambda w: checkpoint_bytes(w, meta=_set("history", {"epoch": 1}))),
    "history-of-strings": _bytes(lambda w: checkpoint_bytes(w, meta=_set("history", [{"loss": "low"}]))),
    "json-nested-500": _bytes(lambda w: checkpoint_bytes(w, text=_deep(500))),
    "json-nested-100000": _bytes(lambda w: checkpoint_bytes(w, text=_deep(100_000))),
    "config-lr-nan": _bytes(lambda w: checkpoint_bytes(w, meta=_set("config.lr", float("nan")))),
    "config-missing-setting": _bytes(lambda w: checkpoint_bytes(w, meta=_drop("config.gamma"))),
    "config-unknown-setting": _bytes(lambda w: checkpoint_bytes(w, meta=_set("config.turbo", True))),
    "config-layers-mismatch": _bytes(lambda w: checkpoint_bytes(w, meta=_set("config.layers", [784, 32, 10]))),
    "config-a-string": _bytes(lambda w: checkpoint_bytes(w, meta=_set("config", "adam please"))),
    "settings-a-list": _bytes(lambda w: checkpoint_bytes(w, meta=_set("settings", [1, 2]))),
    "best-beyond-epoch": _bytes(lambda w: checkpoint_bytes(w, meta=_set("best", {"epoch": 7, "val_acc": 0.5}))),
    "array-nan": _bytes(lambda w: checkpoint_bytes(w, arrays=_array("param.0.w", _with_nan))),
    "array-inf-in-slot": _bytes(lambda w: checkpoint_bytes(w, arrays=_array("slot.1.1.b", _with_inf))),
    "array-wrong-shape": _bytes(lambda w: checkpoint_bytes(w, arrays=_array("param.1.w", lambda a: a[:, :5]))),
    "array-wrong-dtype": _bytes(lambda w: checkpoint_bytes(w, arrays=_array("param.0.b", lambda a: a.astype(np.float64)))),
    "array-missing": _bytes(lambda w: checkpoint_bytes(w, arrays=lambda arrays: arrays.pop("param.1.b"))),
    "array-extra": _bytes(lambda w: checkpoint_bytes(w, arrays=lambda arrays: arrays.update(extra=np.zeros(3, np.float32)))),
    "array-pickled": _bytes(lambda w: checkpoint_bytes(w, arrays=_array("param.0.b", _pickled))),
    "member-pickled-extra": _bytes(lambda w: checkpoint_bytes(w, arrays=lambda arrays: arrays.update(evil=_pickled(None)))),
    "member-not-npy": _bytes(lambda w: with_member(w.base, "README.txt", b"hello\n")),
    "opt-step-huge": _bytes(lambda w: checkpoint_bytes(w, meta=_set("opt_step", 10**400))),
    "config-lr-huge": _bytes(lambda w: checkpoint_bytes(w, meta=_set("config.lr", 10**400))),
    "config-batch-size-huge": _bytes(lambda w: checkpoint_bytes(w, meta=_set("config.batch_size", 10**400))),
    "config-data-relative": _bytes(lambda w: checkpoint_bytes(w, meta=_set("config.data", "data/mnist"))),  # "mnist" is a name
    "config-augment-unknown-field": _bytes(lambda w: checkpoint_bytes(w, meta=_set("config.augment.twirl", 3.0))),
    "best-val-acc-huge": _bytes(lambda w: checkpoint_bytes(w, meta=_set("best", {"epoch": 1, "val_acc": 10**400}))),
    "best-without-arrays": _bytes(lambda w: checkpoint_bytes(w, meta=_set("best", {"epoch": 1, "val_acc": 0.5}))),
    "history-number-huge": _bytes(lambda w: checkpoint_bytes(w, meta=lambda m: m["history"][0].update(loss=10**400))),
    "a-folder": lambda w, path: path.mkdir(),
    "a-symlink-loop": lambda w, path: path.symlink_to(path.name),
    "a-fifo": lambda w, path: fifo(path),
})


# --- checks after a command ------------------------------------------------------------------


def holds_epoch(name: str, epoch: int) -> Callable[[Path, Any, World], None]:
    def check(here: Path, result, w: World) -> None:
        from purenet.runs.checkpoint import load

        checkpoint = load(here / name)
        assert checkpoint.epoch == epoch, f"{name} holds epoch {checkpoint.epoch}, expected {epoch}"
        assert [h["epoch"] for h in checkpoint.history] == list(range(1, epoch + 1))
    return check


def is_checkpoint_file(name: str) -> Callable[[Path, Any, World], None]:
    def check(here: Path, result, w: World) -> None:
        from purenet.runs.checkpoint import load

        assert load(here / name).epoch >= 1
    return check


# =====================================================================================================
# The cases
# =====================================================================================================

CASES: list[Case] = []


def case(id: str, build: Callable[[World, Path], list[str]], code: int = 2, needle: Sequence[str] | str = (), **more) -> None:
    CASES.append(Case(id=id, build=build, code=code, needle=(needle,) if isinstance(needle, str) else tuple(needle), **more))


def then(*values: Any) -> Any:
    """The last of ``values`` (the others were evaluated for their effect, in order)."""
    return values[-1]


def train(data: str, *extra: str, out: str = "m.npz") -> list[str]:
    """``purenet train`` of a small network for one epoch on ``data``, into ``out``."""
    return ["train", *SMALL, "--data", data, "--out", out, *extra]


def on_data(make: Callable[[World, Path], str], *extra: str) -> Callable[[World, Path], list[str]]:
    return lambda w, here: train(make(w, here), *extra)


def mnist_here(w: World, here: Path) -> str:
    idx_folder(w, here / "mnist")
    return "mnist"


# --- malformed IDX folders, raw and gzipped ---------------------------------------------------------

def _idx(gz: bool, **options) -> Callable[[World, Path], str]:
    def make(w: World, here: Path) -> str:
        idx_folder(w, here / "mnist", gz=gz, **{k: (v(w) if callable(v) else v) for k, v in options.items()})
        return "mnist"
    return make


def _payload(key: str, make: Callable[[World], Optional[bytes]]) -> Callable[[World], dict]:
    return lambda w: {key: make(w)}


IMAGES, LABELS = "train-images-idx3-ubyte", "train-labels-idx1-ubyte"
IDX_BROKEN = {
    # name: (train_images or other payload change, needle)
    "truncated-body": (_payload("train_images", lambda w: idx_bytes(w.train_x)[:-100]), IMAGES),
    "bad-magic": (_payload("train_images", lambda w: b"\x12\x34" + idx_bytes(w.train_x)[2:]), IMAGES),
    "wrong-dtype-byte": (_payload("train_images", lambda w: idx_bytes(w.train_x, kind=0x07)), IMAGES),
    "float32-dtype-byte": (_payload("train_images", lambda w: idx_bytes(w.train_x, kind=0x0D)), IMAGES),
    "header-claims-1e9-images": (_payload("train_images", lambda w: idx_bytes(w.train_x, shape=(10**9, 28, 28))), IMAGES),
    "header-claims-huge-images": (_payload("train_images", lambda w: idx_bytes(w.train_x, shape=(300, 65535, 65535))), IMAGES),
    "count-mismatch": (_payload("train_labels", lambda w: idx_bytes(w.train_y[:299])), ("train-images", "train-labels")),
    "2d-images": (_payload("train_images", lambda w: idx_bytes(w.train_x.reshape(300, 784))), IMAGES),
    "3d-labels": (_payload("train_labels", lambda w: idx_bytes(w.train_y.reshape(300, 1, 1))), LABELS),
    "trailing-bytes": (_payload("train_images", lambda w: idx_bytes(w.train_x) + bytes(10)), IMAGES),
    "empty-file": (_payload("train_images", lambda w: b""), IMAGES),
    "header-cut-short": (_payload("train_images", lambda w: idx_bytes(w.train_x)[:7]), IMAGES),
    "zero-images": (_payload("train_images", lambda w: idx_bytes(np.zeros((0, 28, 28), np.uint8))), IMAGES),
    "zero-width-images": (_payload("train_images", lambda w: idx_bytes(np.zeros((300, 28, 0), np.uint8))), IMAGES),
    "missing-train-images": (_payload("train_images", lambda w: None), ("train-images", "mnist")),
    "missing-test-labels": (_payload("test_labels", lambda w: None), ("t10k-labels", "mnist")),
    "test-images-other-size": (lambda w: {"test_images": idx_bytes(w.test_x[:, 4:24, 4:24])}, ("mnist", "t10k-images")),
}
for _name, (_change, _needle) in IDX_BROKEN.items():
    for _gz in (True, False):
        case(f"data-idx-{'gz' if _gz else 'raw'}-{_name}", on_data(_idx(_gz, payload=_change)), needle=_needle)


def _gz_of(w: World) -> bytes:
    return gzip.compress(idx_bytes(w.train_x), compresslevel=1)


def _flipped(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes(b ^ 0xFF for b in data[middle : middle + 64]) + data[middle + 64 :]


case("data-idx-gz-corrupt-stream", on_data(_idx(True, raw=lambda w: {"train_images": _flipped(_gz_of(w))})),
     needle=IMAGES)
case("data-idx-gz-truncated-gzip", on_data(_idx(True, raw=lambda w: {"train_images": _gz_of(w)[: len(_gz_of(w)) // 2]})),
     needle=IMAGES)
case("data-idx-gz-magic-then-garbage", on_data(_idx(True, raw=lambda w: {"train_images": b"\x1f\x8b" + noise(200)})),
     needle=IMAGES)
case("data-idx-gz-wrong-isize", on_data(_idx(True, raw=lambda w: {
    "train_images": gzip.compress(idx_bytes(w.train_x)[:-784], 1)[:-4] + (len(idx_bytes(w.train_x))).to_bytes(4, "little")})),
     needle=IMAGES)


def _idx_with_special(kind: str) -> Callable[[World, Path], str]:
    def make(w: World, here: Path) -> str:
        folder = idx_folder(w, here / "mnist", payload={"train_images": None})
        target = folder / f"{IMAGES}.gz"
        if kind == "fifo":
            fifo(target)
        elif kind == "folder":
            target.mkdir()
        elif kind == "broken-link":
            target.symlink_to("nowhere.gz")
        return "mnist"
    return make


case("data-idx-member-is-a-fifo", on_data(_idx_with_special("fifo")), needle="train-images")
case("data-idx-member-is-a-folder", on_data(_idx_with_special("folder")), needle=("train-images", "mnist"))
case("data-idx-member-is-a-broken-link", on_data(_idx_with_special("broken-link")), needle="train-images")


# --- malformed CSV files ---------------------------------------------------------------------------

def _csv(mutate: Optional[Callable[[list[list[str]]], None]] = None, *, header: bool = True, sep: str = ",",
         text: Optional[Callable[[World], bytes]] = None, name: str = "digits.csv") -> Callable[[World, Path], str]:
    def make(w: World, here: Path) -> str:
        if text is not None:
            (here / name).write_bytes(text(w))
            return name
        rows = csv_lines(w.train_x[:100], w.train_y[:100], header=header)
        if mutate:
            mutate(rows)
        write_csv(here / name, rows, sep)
        return name
    return make


def _cell(row: int, column: int, value: str) -> Callable[[list[list[str]]], None]:
    def mutate(rows: list[list[str]]) -> None:
        rows[row][column] = value
    return mutate


CSV_BROKEN = {
    "bad-cell": _csv(_cell(5, 300, "x")),
    "float-cell": _csv(_cell(5, 300, "12.5")),
    "negative-pixel": _csv(_cell(5, 300, "-1")),
    "pixel-256": _csv(_cell(5, 300, "256")),
    "huge-number": _csv(_cell(5, 300, "9" * 40)),
    "nan-cell": _csv(_cell(5, 300, "nan")),
    "empty-cell": _csv(_cell(5, 300, "")),
    "nul-byte-cell": _csv(_cell(5, 300, "\x00")),
    "label-negative": _csv(_cell(7, 0, "-1")),
    "label-fractional": _csv(_cell(7, 0, "2.5")),
    "label-256": _csv(_cell(7, 0, "256")),
    "row-short": _csv(lambda rows: rows[9].pop()),
    "row-long": _csv(lambda rows: rows[9].append("0")),
    "header-only": _csv(lambda rows: rows.__delitem__(slice(1, None))),
    "labels-only": _csv(lambda rows: [row.__delitem__(slice(1, None)) for row in rows], header=False),
    "empty-file": _csv(text=lambda w: b""),
    "only-newlines": _csv(text=lambda w: b"\n\n\n"),
    "binary-garbage": _csv(text=lambda w: np.random.default_rng(3).integers(0, 256, 5000, dtype=np.uint8).tobytes()),
    "semicolons": _csv(sep=";"),
    "tabs": _csv(sep="\t"),
    "utf16": _csv(text=lambda w: "\n".join(",".join(r) for r in csv_lines(w.train_x[:20], w.train_y[:20]))
                  .encode("utf-16")),
    "gzipped-csv": _csv(text=lambda w: gzip.compress("\n".join(",".join(r) for r in csv_lines(w.train_x[:20], w.train_y[:20]))
                                                     .encode())),
}
for _name, _make in CSV_BROKEN.items():
    case(f"data-csv-{_name}", on_data(_make), needle="digits.csv")


def _csv_folder(test_width: int) -> Callable[[World, Path], str]:
    def make(w: World, here: Path) -> str:
        folder = here / "csvs"
        folder.mkdir()
        write_csv(folder / "mnist_train.csv", csv_lines(w.train_x[:100], w.train_y[:100]))
        write_csv(folder / "mnist_test.csv", csv_lines(w.test_x[:50].reshape(50, -1)[:, :test_width], w.test_y[:50]))
        return "csvs"
    return make


case("data-csv-folder-test-width-differs", on_data(_csv_folder(700)), needle=("csvs", "mnist_test.csv"))


def _csv_folder_bad_test(w: World, here: Path) -> str:
    folder = here / "csvs"
    folder.mkdir()
    write_csv(folder / "mnist_train.csv", csv_lines(w.train_x[:100], w.train_y[:100]))
    (folder / "mnist_test.csv").write_bytes(b"\x00\x01\x02 not a csv")
    return "csvs"


case("data-csv-folder-test-garbage", on_data(_csv_folder_bad_test), needle="mnist_test.csv")


# --- malformed .npz ------------------------------------------------------------------------------------

def _npz(make_bytes: Callable[[World], bytes], name: str = "data.npz") -> Callable[[World, Path], str]:
    def make(w: World, here: Path) -> str:
        (here / name).write_bytes(make_bytes(w))
        return name
    return make


NPZ_BROKEN = {
    "not-a-zip": lambda w: b"images and labels, I promise\n",
    "empty-file": lambda w: b"",
    "truncated-zip": lambda w: npz_bytes(**keras(w))[: len(npz_bytes(**keras(w))) // 2],
    "empty-zip": lambda w: zip_bytes([]),
    "unknown-keys": lambda w: npz_bytes(foo=w.train_x, bar=w.train_y),
    "pickled-object-images": lambda w: npz_bytes(**keras(w, x_train=np.array([w.train_x[0], "x"], dtype=object))),
    "pickled-object-labels": lambda w: npz_bytes(images=w.train_x, labels=np.array(list(w.train_y), dtype=object)),
    "string-images": lambda w: npz_bytes(images=w.train_x.astype(str), labels=w.train_y),
    "string-labels": lambda w: npz_bytes(images=w.train_x, labels=w.train_y.astype(str)),
    "0d-members": lambda w: npz_bytes(images=np.array(7), labels=np.array(1)),
    "empty-arrays": lambda w: npz_bytes(images=np.zeros((0, 784), np.uint8), labels=np.zeros(0, np.uint8)),
    "nan-floats": lambda w: npz_bytes(images=_with_nan(w.train_x.astype(np.float32) / 255), labels=w.train_y),
    "inf-floats": lambda w: npz_bytes(images=_with_inf(w.train_x.astype(np.float32) / 255), labels=w.train_y),
    "negative-floats": lambda w: npz_bytes(images=w.train_x.astype(np.float32) / 255 - 0.5, labels=w.train_y),
    "pixels-int16-1000": lambda w: npz_bytes(images=w.train_x.astype(np.int16) * 4, labels=w.train_y),
    "labels-out-of-range": lambda w: npz_bytes(images=w.train_x, labels=w.train_y.astype(np.int16) + 300),
    "labels-negative": lambda w: npz_bytes(images=w.train_x, labels=w.train_y.astype(np.int64) - 1),
    "labels-fractional": lambda w: npz_bytes(images=w.train_x, labels=w.train_y + np.float32(0.5)),
    "labels-not-one-hot": lambda w: npz_bytes(images=w.train_x, labels=np.ones((300, 10), np.uint8)),
    "length-mismatch": lambda w: npz_bytes(images=w.train_x, labels=w.train_y[:299]),
    "rgb-images": lambda w: npz_bytes(images=np.repeat(w.train_x[..., None], 3, axis=3), labels=w.train_y),
    "complex-images": lambda w: npz_bytes(images=w.train_x.astype(np.complex64), labels=w.train_y),
    "5d-images": lambda w: npz_bytes(images=w.train_x.reshape(300, 2, 14, 28, 1), labels=w.train_y),
    "non-npy-member": lambda w: zip_bytes([("images.npy", npy_bytes(w.train_x)), ("labels.npy", npy_bytes(w.train_y)),
                                           ("README.txt", b"the digits of my thesis\n")]),
    "folder-member": lambda w: zip_bytes([("images.npy", npy_bytes(w.train_x)), ("labels.npy", npy_bytes(w.train_y)),
                                          ("sub/", b"")]),
    "duplicate-member": lambda w: zip_bytes([("images.npy", npy_bytes(w.train_x)), ("labels.npy", npy_bytes(w.train_y)),
                                             ("images.npy", npy_bytes(w.test_x))]),
    "header-claims-terabytes": lambda w: zip_bytes([("images.npy", huge_npy_header()), ("labels.npy", npy_bytes(w.train_y))]),
    "member-truncated-npy": lambda w: zip_bytes([("images.npy", npy_bytes(w.train_x)[:-500]),
                                                 ("labels.npy", npy_bytes(w.train_y))]),
    "train-images-without-labels": lambda w: npz_bytes(x_train=w.train_x, x_test=w.test_x, y_test=w.test_y),
    "test-images-without-labels": lambda w: npz_bytes(**keras(w, y_test=None)),
    "test-images-other-size": lambda w: npz_bytes(**keras(w, x_test=w.test_x[:, 4:24, 4:24])),
}
for _name, _make in NPZ_BROKEN.items():
    case(f"data-npz-{_name}", on_data(_npz(_make)), needle="data.npz")


# --- class folders -----------------------------------------------------------------------------------

def _folders(spoil: Callable[[Path], None]) -> Callable[[World, Path], str]:
    def make(w: World, here: Path) -> str:
        root = class_folders(w, here / "pics")
        spoil(root)
        return "pics"
    return make


def _empty_class(root: Path) -> None:
    for file in (root / "3").iterdir():
        file.unlink()


def _only_fifo(root: Path) -> None:
    _empty_class(root)
    fifo(root / "3" / "pipe.png")


FOLDERS_BROKEN = {
    "text-file-in-class": (lambda root: (root / "0" / "notes.txt").write_text("the 0s are from Anna\n"), "notes.txt"),
    "empty-class-folder": (_empty_class, "3"),
    "fifo-only-in-class": (_only_fifo, "3"),
    "fifo-beside-images": (lambda root: fifo(root / "4" / "pipe.png"), "pipe.png"),
    "truncated-png": (lambda root: (root / "5" / "0.png").write_bytes((root / "5" / "0.png").read_bytes()[:40]), "0.png"),
    "zero-byte-png": (lambda root: (root / "6" / "0.png").write_bytes(b""), "0.png"),
    "broken-link": (lambda root: (root / "7" / "gone.png").symlink_to("nowhere.png"), "gone.png"),
    "class-beyond-outputs": (lambda root: (root / "12").mkdir()
                             or (root / "12" / "a.png").write_bytes((root / "1" / "0.png").read_bytes()),
                             ("pics", "12")),
}
for _name, (_spoil, _needle) in FOLDERS_BROKEN.items():
    case(f"data-folders-{_name}", on_data(_folders(_spoil)), needle=_needle)


def _folders_train_test(w: World, here: Path) -> str:
    class_folders(w, here / "pics" / "train")
    class_folders(w, here / "pics" / "test", per_class=1)
    return "pics"


case("data-folders-train-test-works", on_data(_folders_train_test), code=0, lines=None)


# --- what --data names ------------------------------------------------------------------------------

def _path(make: Callable[[Path], Any], arg: str) -> Callable[[World, Path], str]:
    def build(w: World, here: Path) -> str:
        make(here)
        return arg
    return build


case("data-path-fifo", on_data(_path(lambda here: fifo(here / "pipe.csv"), "pipe.csv")), needle="pipe.csv")
case("data-path-fifo-no-suffix", on_data(_path(lambda here: fifo(here / "pipe"), "pipe")), needle="pipe")
case("data-path-socket", on_data(_path(lambda here: unix_socket(here / "s.npz"), "s.npz")), needle="s.npz")
case("data-path-missing", on_data(_path(lambda here: None, "no/such/data")), needle="no/such/data")
case("data-path-empty-folder", on_data(_path(lambda here: (here / "empty").mkdir(), "empty")), needle="empty")
case("data-path-unrelated-folder",
     on_data(_path(lambda here: (here / "docs").mkdir() or (here / "docs" / "README").write_text("hi\n"), "docs")), needle="docs")
case("data-path-dev-null", on_data(_path(lambda here: None, "/dev/null")), needle="/dev/null")
case("data-path-dev-zero", on_data(_path(lambda here: None, "/dev/zero")), needle="/dev/zero")
case("data-path-npy-file", on_data(_path(lambda here: np.save(here / "x.npy", np.zeros((3, 784), np.uint8)), "x.npy")),
     needle="x.npy")
case("data-path-broken-link", on_data(_path(lambda here: (here / "link").symlink_to("gone"), "link")), needle="link")
case("data-path-single-idx-file", on_data(lambda w, here: (idx_folder(w, here / "mnist"), f"mnist/{IMAGES}.gz")[1]),
     needle=IMAGES)
case("data-path-folder-named-npz", on_data(_path(lambda here: (here / "d.npz").mkdir(), "d.npz")), needle="d.npz")
case("data-path-text-file", on_data(_path(lambda here: (here / "notes.txt").write_text("7,0,0\n"), "notes.txt")),
     needle="notes.txt")
case("data-path-newline-in-name", on_data(_path(lambda here: (here / "bad\nname.csv").write_text("x\n"), "bad\nname.csv")),
     needle="name.csv")
case("data-path-a-checkpoint", lambda w, here: (here / "ck.npz").write_bytes(w.base.read_bytes()) and train("ck.npz"),
     needle="ck.npz")
case("data-path-is-the-out-checkpoint", lambda w, here: (here / "m.npz").write_bytes(w.base.read_bytes()) and train("m.npz"),
     needle="m.npz")


# --- data that does not fit the model ------------------------------------------------------------------

case("fit-784-pixels-layers-100", lambda w, here: train(mnist_here(w, here), "--layers", "100,10"), needle="--layers")
case("fit-labels-to-9-layers-to-5", lambda w, here: train(mnist_here(w, here), "--layers", "784,5"), needle="--layers")
case("fit-20x20-idx-works",
     lambda w, here: train(_idx(True, x=lambda w: w.train_x[:, 4:24, 4:24], tx=lambda w: w.test_x[:, 4:24, 4:24])(w, here),
                           "--layers", "400,16,10"),
     code=0, lines=None, after=holds_epoch("m.npz", 1))
case("fit-20x20-idx-layers-400-10-works",
     lambda w, here: train(_idx(True, x=lambda w: w.train_x[:, 4:24, 4:24], tx=lambda w: w.test_x[:, 4:24, 4:24])(w, here),
                           "--layers", "400,10"),
     code=0, lines=None, after=holds_epoch("m.npz", 1))
case("fit-20x20-npz-works",
     lambda w, here: train(_npz(lambda w: npz_bytes(**keras(w, x_train=w.train_x[:, 4:24, 4:24],
                                                            x_test=w.test_x[:, 4:24, 4:24])))(w, here),
                           "--layers", "400,16,10"),
     code=0, lines=None, after=holds_epoch("m.npz", 1))
case("fit-20x30-npz-works",
     lambda w, here: train(_npz(lambda w: npz_bytes(images=np.pad(w.train_x[:, 4:24], ((0, 0), (0, 0), (1, 1))),
                                                    labels=w.train_y))(w, here),
                           "--layers", "600,16,10"),
     code=0, lines=None, after=holds_epoch("m.npz", 1))


def _csv300(w: World, here: Path) -> str:
    write_csv(here / "d300.csv", csv_lines(w.train_x[:100].reshape(100, -1)[:, :300], w.train_y[:100]))
    return "d300.csv"


case("fit-csv-300-pixels-default-augment", lambda w, here: train(_csv300(w, here), "--layers", "300,16,10"), needle="--augment")
case("fit-csv-300-pixels-elastic", lambda w, here: train(_csv300(w, here), "--layers", "300,16,10", "--augment", "elastic"),
     needle="--augment")
case("fit-csv-300-pixels-augment-none-works",
     lambda w, here: train(_csv300(w, here), "--layers", "300,16,10", "--augment", "none"),
     code=0, lines=None, after=holds_epoch("m.npz", 1))
case("fit-csv-300-pixels-show-predictions", lambda w, here: train(_csv300(w, here), "--layers", "300,16,10", "--augment", "none",
                                                                  "--show-predictions", "3"), needle="--show-predictions")
case("fit-csv-label-10-layers-to-10", on_data(_csv(_cell(3, 0, "10"))), needle=("digits.csv", "--layers"))
case("fit-one-image-val-fraction", lambda w, here: train(_idx(True, n_train=1, n_test=1)(w, here), "--val-fraction", "0.5"),
     needle="--val-fraction")
case("fit-two-images-val-fraction-0.9", lambda w, here: train(_idx(True, n_train=2, n_test=2)(w, here), "--val-fraction", "0.9"),
     needle="--val-fraction")
case("fit-evaluate-other-pixel-count",
     lambda w, here: ["evaluate", _ck(w, here), "--data",
                      _idx(True, x=lambda w: w.train_x[:, 4:24, 4:24], tx=lambda w: w.test_x[:, 4:24, 4:24])(w, here)],
     needle="mnist")
case("fit-evaluate-labels-beyond-outputs",
     lambda w, here: ["evaluate", _ck(w, here), "--data",
                      _npz(lambda w: npz_bytes(images=w.test_x, labels=w.test_y + 5))(w, here)],
     needle="data.npz")


# --- bad options -----------------------------------------------------------------------------------------

def _ck(w: World, here: Path, name: str = "ck.npz") -> str:
    (here / name).write_bytes(w.base.read_bytes())
    return name


BAD_OPTIONS = {
    "lr-nan": (["--lr", "nan"], "--lr"),
    "lr-inf": (["--lr", "inf"], "--lr"),
    "lr-1e400": (["--lr", "1e400"], "--lr"),
    "lr-negative": (["--lr", "-1"], "--lr"),
    "lr-zero": (["--lr", "0"], "--lr"),
    "lr-a-word": (["--lr", "fast"], "--lr"),
    "seed-negative": (["--seed", "-1"], "--seed"),
    "seed-a-float": (["--seed", "1.5"], "--seed"),
    "epochs-zero": (["--epochs", "0"], "--epochs"),
    "epochs-negative": (["--epochs", "-3"], "--epochs"),
    "epochs-x": (["--epochs", "x"], "--epochs"),
    "epochs-fractional": (["--epochs", "1.5"], "--epochs"),
    "epochs-value-missing": (["--epochs"], "--epochs"),
    "batch-size-zero": (["--batch-size", "0"], "--batch-size"),
    "batch-size-negative": (["--batch-size", "-64"], "--batch-size"),
    "layers-one-width": (["--layers", "784"], "--layers"),
    "layers-zero-width": (["--layers", "784,0,10"], "--layers"),
    "layers-negative-width": (["--layers", "784,-16,10"], "--layers"),
    "layers-abc": (["--layers", "abc"], "--layers"),
    "layers-empty-part": (["--layers", "784,,10"], "--layers"),
    "layers-fractional": (["--layers", "784,16.5,10"], "--layers"),
    "layers-empty": (["--layers", ""], "--layers"),
    "layers-memory": (["--layers", "784,100000000000,10"], "--layers"),
    "act-swish": (["--act", "swish"], "--act"),
    "loss-hinge": (["--loss", "hinge"], "--loss"),
    "init-zeros": (["--init", "zeros"], "--init"),
    "optimizer-Lion": (["--optimizer", "Lion"], "--optimizer"),
    "optimizer-empty": (["--optimizer", ""], "--optimizer"),
    "schedule-linear": (["--schedule", "linear"], "--schedule"),
    "dropout-2": (["--dropout", "2"], "--dropout"),
    "dropout-negative": (["--dropout", "-0.1"], "--dropout"),
    "dropout-nan": (["--dropout", "nan"], "--dropout"),
    "warmup-inf": (["--warmup", "inf"], "--warmup"),
    "warmup-negative": (["--warmup", "-1"], "--warmup"),
    "gamma-nan": (["--gamma", "nan"], "--gamma"),
    "gamma-1.5": (["--gamma", "1.5"], "--gamma"),
    "decay-every-zero": (["--decay-every", "0"], "--decay-every"),
    "weight-decay-negative": (["--weight-decay", "-1e-4"], "--weight-decay"),
    "weight-decay-nan": (["--weight-decay", "nan"], "--weight-decay"),
    "val-fraction-1": (["--val-fraction", "1"], "--val-fraction"),
    "val-fraction-negative": (["--val-fraction", "-0.1"], "--val-fraction"),
    "val-fraction-nan": (["--val-fraction", "nan"], "--val-fraction"),
    "patience-without-val-fraction": (["--patience", "3"], "--patience"),
    "patience-negative": (["--patience", "-1", "--val-fraction", "0.1"], "--patience"),
    "preset-nope": (["--preset", "nope"], "--preset"),
    "unknown-option": (["--foo"], "--foo"),
    "unknown-option-with-value": (["--learning-rate", "0.1"], "--learning-rate"),
    "augment-twist": (["--augment", "twist"], "--augment"),
    "shift-nan": (["--shift", "nan"], "--shift"),
    "shift-negative": (["--shift", "-2"], "--shift"),
    "scale-0.95": (["--scale", "0.95"], "--scale"),
    "rotation-inf": (["--rotation", "inf"], "--rotation"),
    "elastic-alpha-negative": (["--elastic-alpha", "-5", "--augment", "elastic"], "--elastic-alpha"),
    "shift-with-augment-none": (["--shift", "2", "--augment", "none"], "--shift"),
    "every-negative": (["--every", "-1"], "--every"),
    "show-predictions-negative": (["--show-predictions", "-1"], "--show-predictions"),
    "extra-argument": (["extra"], "extra"),
    "out-empty-string": (["--out", ""], ("--out", "'.'", ".:", "folder")),
}
for _name, (_args, _needle) in BAD_OPTIONS.items():
    case(f"option-train-{_name}", lambda w, here, _args=_args: train(mnist_here(w, here), *_args), needle=_needle)

case("option-unknown-command", lambda w, here: ["trian", "--epochs", "1"], needle="trian")
case("option-predict-without-images", lambda w, here: ["predict", "--model", _ck(w, here)], needle=("IMAGES", "IMAGE", "image"))
# two models are an ensemble (docs/cli.md); its pictures are not drawn: --report with two is one line
case("option-evaluate-two-models-report", lambda w, here: ["evaluate", _ck(w, here), _ck(w, here, "ck2.npz"), "--report", "rep"],
     needle="--report")

BENCH = {
    "seconds-nan": (["--seconds", "nan"], "--seconds"),
    "seconds-inf": (["--seconds", "inf"], "--seconds"),
    "seconds-zero": (["--seconds", "0"], "--seconds"),
    "repeats-zero": (["--repeats", "0"], "--repeats"),
    "batch-size-zero": (["--batch-size", "0"], "--batch-size"),
    "layers-zero-width": (["--layers", "784,0"], "--layers"),
    "layers-abc": (["--layers", "abc"], "--layers"),
    "layers-memory": (["--layers", "784,100000000000,10"], "--layers"),
    "act-swish": (["--act", "swish"], "--act"),
    "compare-tensorflow": (["--compare", "tensorflow"], "--compare"),
}
for _name, (_args, _needle) in BENCH.items():
    case(f"option-bench-{_name}", lambda w, here, _args=_args: ["bench", "--seconds", "0.01", "--repeats", "1", *_args],
         needle=_needle)


# --- tampered checkpoints, for evaluate, predict and train --resume ----------------------------------------

def _tampered(name: str, command: str) -> Callable[[World, Path], list[str]]:
    def build(w: World, here: Path) -> list[str]:
        TAMPERED[name](w, here / "ck.npz")
        (here / "digit.png").write_bytes(w.digit_png)
        if command == "evaluate":
            return ["evaluate", "ck.npz"]
        if command == "predict":
            return ["predict", "--model", "ck.npz", "digit.png"]
        return ["train", "--resume", "ck.npz", "--epochs", "3"]
    return build


for _name in TAMPERED:
    for _command in ("evaluate", "predict", "resume"):
        case(f"checkpoint-{_command}-{_name}", _tampered(_name, _command), needle="ck.npz")


def _untouched(command: str) -> Callable[[World, Path], list[str]]:
    def build(w: World, here: Path) -> list[str]:
        _ck(w, here)
        (here / "digit.png").write_bytes(w.digit_png)
        return {"evaluate": ["evaluate", "ck.npz"], "predict": ["predict", "--model", "ck.npz", "digit.png"],
                "resume": ["train", "--resume", "ck.npz", "--epochs", "2"]}[command]
    return build


case("checkpoint-evaluate-control-untampered", _untouched("evaluate"), code=0, lines=None)
case("checkpoint-predict-control-untampered", _untouched("predict"), code=0, lines=None)
case("checkpoint-resume-control-untampered", _untouched("resume"), code=0, lines=None, changes=["ck.npz"],
     after=holds_epoch("ck.npz", 2))


# --- a checkpoint saved by a script, as docs/api.md shows ---------------------------------------------------

def _script(w: World, here: Path) -> str:
    (here / "script.npz").write_bytes(w.script.read_bytes())
    (here / "digit.png").write_bytes(w.digit_png)
    return "script.npz"


case("script-checkpoint-evaluate-with-data", lambda w, here: ["evaluate", _script(w, here), "--data", mnist_here(w, here)],
     code=0, lines=None)
case("script-checkpoint-evaluate-default-data", lambda w, here: ["evaluate", _script(w, here)], code=0, lines=None)
case("script-checkpoint-predict", lambda w, here: ["predict", "--model", _script(w, here), "digit.png"], code=0, lines=None)
case("script-checkpoint-resume", lambda w, here: ["train", "--resume", _script(w, here), "--epochs", "3"], needle="script.npz")
case("script-checkpoint-resume-with-options",
     lambda w, here: ["train", "--resume", _script(w, here), "--epochs", "3", "--data", mnist_here(w, here),
                      "--lr", "0.1", "--optimizer", "sgd"],
     needle="script.npz")


# --- resuming --------------------------------------------------------------------------------------------------

def resume(*extra: str) -> Callable[[World, Path], list[str]]:
    return lambda w, here: ["train", "--resume", _ck(w, here), *extra]


case("resume-lr-differs", resume("--epochs", "2", "--lr", "0.5"), needle="--lr")
case("resume-lr-same-works", resume("--epochs", "2", "--lr", "0.003"), code=0, lines=None, changes=["ck.npz"],
     after=holds_epoch("ck.npz", 2))
case("resume-seed-same-works", resume("--epochs", "2", "--seed", "0"), code=0, lines=None, changes=["ck.npz"],
     after=holds_epoch("ck.npz", 2))
case("resume-epochs-equal", resume("--epochs", "1"), needle="ck.npz")
case("resume-epochs-fewer", resume("--epochs", "0"), needle=("ck.npz", "--epochs"))
case("resume-epochs-default", resume(), needle="ck.npz")
case("resume-layers-differ", resume("--epochs", "2", "--layers", "784,32,10"), needle="--layers")
case("resume-optimizer-differs", resume("--epochs", "2", "--optimizer", "sgd"), needle="--optimizer")
case("resume-augment-differs", resume("--epochs", "2", "--augment", "none"), needle="--augment")
case("resume-dropout-differs", resume("--epochs", "2", "--dropout", "0.5"), needle="--dropout")
case("resume-preset-best", resume("--epochs", "2", "--preset", "best"),
     needle=("--preset", "--layers", "--act", "--lr", "ck.npz"))
case("resume-patience-without-val", resume("--epochs", "2", "--patience", "3"), needle="--patience")
case("resume-lr-nan", resume("--epochs", "2", "--lr", "nan"), needle="--lr")
case("resume-missing-file", lambda w, here: ["train", "--resume", "gone.npz", "--epochs", "2"], needle="gone.npz")
case("resume-out-notes",
     lambda w, here: (here / "notes.txt").write_text("mine\n") and resume("--epochs", "2", "--out", "notes.txt")(w, here),
     needle="notes.txt")


def _moved_data(w: World, here: Path) -> str:
    (here / "ck.npz").write_bytes(checkpoint_bytes(w, meta=_set("config.data", str(here / "moved-away"))))
    (here / "digit.png").write_bytes(w.digit_png)
    return "ck.npz"


case("resume-data-moved", lambda w, here: ["train", "--resume", _moved_data(w, here), "--epochs", "2"], needle="moved-away")
case("resume-data-moved-given-data-works", lambda w, here: ["train", "--resume", _moved_data(w, here), "--epochs", "2", "--data",
                                                             mnist_here(w, here)], code=0, lines=None, changes=["ck.npz"],
     after=holds_epoch("ck.npz", 2))
case("evaluate-data-moved", lambda w, here: ["evaluate", _moved_data(w, here)], needle="moved-away")
case("predict-data-moved-works", lambda w, here: ["predict", "--model", _moved_data(w, here), "digit.png"], code=0, lines=None)


def _resume_beside_model(w: World, here: Path) -> list[str]:
    _ck(w, here, "model.npz")
    _ck(w, here, "run.npz")
    return ["train", "--resume", "run.npz", "--epochs", "2"]


case("resume-continues-into-its-file", _resume_beside_model, code=0, lines=None, changes=["run.npz"],
     after=holds_epoch("run.npz", 2))


# --- risky paths ------------------------------------------------------------------------------------------------

def _keras_here(w: World, here: Path, name: str = "data.npz") -> str:
    return _npz(lambda w: npz_bytes(**keras(w)), name)(w, here)


def _notes(here: Path, name: str = "notes.txt") -> str:
    (here / name).write_text("my notes: buy milk\n")
    return name


case("out-is-the-data-npz", lambda w, here: train(_keras_here(w, here), out="data.npz"), needle="data.npz")
case("out-is-the-data-npz-force", lambda w, here: train(_keras_here(w, here), "--force", out="data.npz"), needle="data.npz")
case("out-is-the-data-csv-via-dot-path-force", lambda w, here: train(_csv()(w, here), "--force", out="./digits.csv"),
     needle="digits.csv")
case("out-is-an-idx-file", lambda w, here: train(mnist_here(w, here), out=f"mnist/{IMAGES}.gz"), needle=IMAGES)
case("out-is-an-idx-file-force", lambda w, here: train(mnist_here(w, here), "--force", out=f"mnist/{IMAGES}.gz"), needle=IMAGES)
case("out-symlink-to-the-data-force", lambda w, here: (train(_csv()(w, here), "--force", out="link.csv"),
                                                       (here / "link.csv").symlink_to("digits.csv"))[0], needle="link.csv")
case("out-hardlink-to-the-data-force", lambda w, here: (train(_csv()(w, here), "--force", out="same.csv"),
                                                        os.link(here / "digits.csv", here / "same.csv"))[0], needle="same.csv")
case("out-is-notes", lambda w, here: train(mnist_here(w, here), out=_notes(here)), needle="notes.txt")
case("out-is-notes-force-works", lambda w, here: train(mnist_here(w, here), "--force", out=_notes(here)), code=0, lines=None,
     changes=["notes.txt"], after=is_checkpoint_file("notes.txt"))
case("out-is-another-data-npz", lambda w, here: train(mnist_here(w, here), out=_keras_here(w, here, "other.npz")),
     needle="other.npz")
case("out-is-a-folder", lambda w, here: (here / "models").mkdir() or train(mnist_here(w, here), out="models"),
     needle="models")
case("out-is-a-folder-force", lambda w, here: (here / "models").mkdir() or train(mnist_here(w, here), "--force", out="models"),
     needle="models")
case("out-is-dev-null", lambda w, here: train(mnist_here(w, here), out="/dev/null"), needle="/dev/null")
case("out-is-dev-null-force", lambda w, here: train(mnist_here(w, here), "--force", out="/dev/null"), needle="/dev/null")
case("out-in-missing-folder", lambda w, here: train(mnist_here(w, here), out="no/such/dir/m.npz"), needle="no/such/dir")
case("out-is-a-broken-symlink", lambda w, here: (here / "m.npz").symlink_to("elsewhere.npz") or train(mnist_here(w, here)),
     needle="m.npz")
case("out-is-a-broken-symlink-force",
     lambda w, here: (here / "m.npz").symlink_to("elsewhere.npz") or train(mnist_here(w, here), "--force"),
     needle="m.npz")
case("out-is-a-symlink-to-notes",
     lambda w, here: (_notes(here), (here / "m.npz").symlink_to("notes.txt"))[1] or train(mnist_here(w, here)),
     needle="m.npz")
case("out-is-a-fifo", lambda w, here: fifo(here / "m.npz") and train(mnist_here(w, here)), needle="m.npz")
case("out-is-a-fifo-force", lambda w, here: fifo(here / "m.npz") and train(mnist_here(w, here), "--force"), needle="m.npz")
case("out-newline-in-folder-name", lambda w, here: train(mnist_here(w, here), out="no\nsuch/m.npz"), needle="such")
case("out-existing-checkpoint-works", lambda w, here: (_ck(w, here, "m.npz"), train(mnist_here(w, here)))[1], code=0, lines=None,
     changes=["m.npz"], after=holds_epoch("m.npz", 1))
case("out-lock-file-not-ours", lambda w, here: (here / ".m.npz.lock").write_text("my secret\n") and train(mnist_here(w, here)),
     needle=".m.npz.lock")


# --- evaluate and its --report folder ------------------------------------------------------------------------

def report(*extra: str) -> Callable[[World, Path], list[str]]:
    """``purenet evaluate`` of the real checkpoint with ``--report R``, on 10 test images (few pictures to draw)."""
    return lambda w, here: ["evaluate", _ck(w, here), "--report", "R", "--data", _idx(True, n_test=10)(w, here), *extra]


def _user_png(here: Path, name: str = "confusion.png") -> None:
    (here / "R").mkdir(exist_ok=True)
    (here / "R" / name).write_bytes(png_bytes(np.full((8, 8), 200, np.uint8)))


def _earlier_report(w: World, here: Path) -> None:
    (here / "R").mkdir()
    for name, data in w.report.items():
        (here / "R" / name).write_bytes(data)


PNGS = ["R/confusion.png", "R/misclassified.png", "R/classes.png", "R/curves.png"]
case("report-is-a-file", lambda w, here: (here / "R").write_text("my report\n") and report()(w, here), needle="R")
case("report-holds-users-confusion-png", lambda w, here: _user_png(here) or report()(w, here), needle="confusion.png")
case("report-holds-users-curves-png-beside-ours",
     lambda w, here: _earlier_report(w, here) or _user_png(here, "curves.png") or report()(w, here),
     needle="curves.png")
case("report-holds-a-text-named-png",
     lambda w, here: then((here / "R").mkdir(), (here / "R" / "misclassified.png").write_text("hi\n"), report()(w, here)),
     needle="misclassified.png")
case("report-holds-a-folder-named-png", lambda w, here: (here / "R" / "curves.png").mkdir(parents=True) or report()(w, here),
     needle="curves.png")
case("report-holds-a-folder-named-png-force",
     lambda w, here: (here / "R" / "curves.png").mkdir(parents=True) or report("--force")(w, here),
     needle="curves.png")
case("report-holds-a-fifo-named-png-force",
     lambda w, here: (here / "R").mkdir() or fifo(here / "R" / "confusion.png") and report("--force")(w, here),
     needle="confusion.png")
case("report-under-a-file", lambda w, here: ["evaluate", _ck(w, here), "--report", f"{_notes(here)}/sub"], needle="notes.txt")
case("report-is-a-broken-symlink", lambda w, here: (here / "R").symlink_to("gone") or report()(w, here), needle="R")
case("report-replaces-an-earlier-report", lambda w, here: _earlier_report(w, here) or report()(w, here),
     code=0, lines=None, changes=PNGS)
case("report-force-replaces-users-png", lambda w, here: _user_png(here) or report("--force")(w, here),
     code=0, lines=None, changes=PNGS)
case("report-in-a-new-nested-folder",
     lambda w, here: ["evaluate", _ck(w, here), "--report", "out/pics", "--data", _idx(True, n_test=10)(w, here)],
     code=0, lines=None)


def _nonsquare_model(w: World, here: Path, lone: bool) -> list[str]:
    """A 300-pixel model (trained by a script), evaluated with --report on 300-pixel data."""
    from purenet.core.network import init
    from purenet.core.optim import make_optimizer
    from purenet.runs.checkpoint import Checkpoint, save

    params = init([300, 16, 10], rng=np.random.default_rng(0))
    save(here / "m300.npz", Checkpoint(params=params, opt_state=make_optimizer("sgd", 0.1).init(params), epoch=1,
                                       rng_state=np.random.default_rng(1).bit_generator.state))
    if lone:
        data = _csv300(w, here)
    else:
        folder = here / "csvs"
        folder.mkdir()
        write_csv(folder / "mnist_train.csv", csv_lines(w.train_x[:60].reshape(60, -1)[:, :300], w.train_y[:60]))
        write_csv(folder / "mnist_test.csv", csv_lines(w.test_x[:40].reshape(40, -1)[:, :300], w.test_y[:40]))
        data = "csvs"
    return ["evaluate", "m300.npz", "--data", data, "--report", "R"]


case("report-non-square-images-csv-folder", lambda w, here: _nonsquare_model(w, here, lone=False), needle="--report")
case("report-non-square-images-lone-csv", lambda w, here: _nonsquare_model(w, here, lone=True), needle="--report")
case("evaluate-missing-model", lambda w, here: ["evaluate", "gone.npz"], needle="gone.npz")
case("evaluate-nothing-trained-yet", lambda w, here: ["evaluate"], needle=("purenet train", "model"))
case("evaluate-implicit-model-tampered", lambda w, here: then(TAMPERED["truncated"](w, here / "model.npz"), ["evaluate"]),
     needle="model.npz")
case("evaluate-model-is-a-folder", lambda w, here: (here / "m").mkdir() or ["evaluate", "m"], needle="m")
case("evaluate-data-missing", lambda w, here: ["evaluate", _ck(w, here), "--data", "nowhere"], needle="nowhere")
case("evaluate-data-is-a-checkpoint", lambda w, here: ["evaluate", _ck(w, here), "--data", _ck(w, here, "other.npz")],
     needle="other.npz")
case("evaluate-data-broken", lambda w, here: ["evaluate", _ck(w, here), "--data", _npz(NPZ_BROKEN["truncated-zip"])(w, here)],
     needle="data.npz")


# --- predict ------------------------------------------------------------------------------------------------------

def _many(json_output: bool) -> Callable[[World, Path], list[str]]:
    def build(w: World, here: Path) -> list[str]:
        _ck(w, here)
        (here / "a.png").write_bytes(w.digit_png)
        (here / "b.png").write_bytes(w.digit_png)
        (here / "text.png").write_text("not a picture\n")
        (here / "empty.png").write_bytes(b"")
        fifo(here / "pipe.png")
        (here / "bomb.png").write_bytes(bomb_png())
        return ["predict", "--model", "ck.npz", *(["--json"] if json_output else []),
                "a.png", "text.png", "empty.png", "missing.png", "pipe.png", "bomb.png", "b.png"]
    return build


def _answers(json_output: bool) -> Callable[[Path, Any, World], None]:
    bad = ["text.png", "empty.png", "missing.png", "pipe.png", "bomb.png"]

    def check(here: Path, result, w: World) -> None:
        errors = result.stderr.splitlines()
        assert [line.split(": ")[2] if line.count(": ") >= 2 else line for line in errors] == bad, errors
        assert all(line.startswith("purenet: error: ") for line in errors), errors
        out = result.stdout.splitlines()
        if json_output:
            assert [json.loads(line)["file"] for line in out] == ["a.png", "b.png"], out
        else:
            assert [line.split(":")[0] for line in out] == ["a.png", "b.png"], out
    return check


case("predict-good-and-bad-files", _many(False), lines=5, after=_answers(False))
case("predict-good-and-bad-files-json", _many(True), lines=5, after=_answers(True))
case("predict-model-of-400-pixels", lambda w, here: then((here / "m400.npz").write_bytes(w.model400.read_bytes()),
     (here / "digit.png").write_bytes(w.digit_png), ["predict", "--model", "m400.npz", "digit.png"]),
     needle=("m400.npz", "--model"))
case("predict-model-is-a-data-npz", lambda w, here: (here / "digit.png").write_bytes(w.digit_png) and
     ["predict", "--model", _keras_here(w, here), "digit.png"], needle="data.npz")
case("predict-missing-model",
     lambda w, here: (here / "digit.png").write_bytes(w.digit_png) and ["predict", "--model", "gone.npz", "digit.png"],
     needle="gone.npz")
case("predict-nothing-trained-yet", lambda w, here: (here / "digit.png").write_bytes(w.digit_png) and ["predict", "digit.png"],
     needle=("purenet train", "model"))
case("predict-implicit-model-tampered", lambda w, here: then(TAMPERED["truncated"](w, here / "model.npz"),
     (here / "digit.png").write_bytes(w.digit_png), ["predict", "digit.png"]), needle="model.npz")
case("predict-folder-without-images",
     lambda w, here: then((here / "album").mkdir(), (here / "album" / "README").write_text("soon\n"),
                          ["predict", "--model", _ck(w, here), "album"]),
     needle="album")
case("predict-decompression-bomb", lambda w, here: (here / "bomb.png").write_bytes(bomb_png()) and
     ["predict", "--model", _ck(w, here), "bomb.png"], needle="bomb.png")
case("predict-newline-in-name",
     lambda w, here: (here / "a\nb.png").write_text("x") and ["predict", "--model", _ck(w, here), "a\nb.png"],
     needle="b.png")


# --- download, and the default data folder offline ------------------------------------------------------------

OFFLINE = {"PURENET_MIRRORS": OFFLINE_MIRROR}


def download(target: str, prepare: Callable[[World, Path], Any] = lambda w, here: None) -> Callable[[World, Path], list[str]]:
    return lambda w, here: (prepare(w, here), ["download", target, "--mirror", OFFLINE_MIRROR])[1]


case("download-into-a-regular-file", download("notes.txt", lambda w, here: _notes(here)), needle="notes.txt", env=OFFLINE)
case("download-into-a-fifo", download("pipe", lambda w, here: fifo(here / "pipe")), needle="pipe", env=OFFLINE)
case("download-into-a-broken-symlink", download("gone", lambda w, here: (here / "gone").symlink_to("nowhere")),
     needle="gone", env=OFFLINE)
case("download-offline-new-folder", download("fresh/deep"), needle=("fresh/deep", "127.0.0.1"), env=OFFLINE)
case("download-offline-keeps-users-file", download("d", lambda w, here: (here / "d").mkdir() or
                                                   (here / "d" / f"{IMAGES}.gz").write_bytes(b"my own file")),
     needle=("d/", "127.0.0.1"), env=OFFLINE)
case("download-folder-in-the-way", download("d", lambda w, here: (here / "d" / f"{IMAGES}.gz").mkdir(parents=True)),
     needle=IMAGES, env=OFFLINE)
case("download-mirror-not-a-url", lambda w, here: ["download", "d", "--mirror", "not-a-url"], needle=("not-a-url", "d"),
     env=OFFLINE)
case("train-default-data-missing-offline", lambda w, here: ["train", *SMALL, "--out", "m.npz"], needle=("nowhere", "127.0.0.1"),
     env={**OFFLINE, "PURENET_DATA": "nowhere"})
case("evaluate-script-model-default-data-missing-offline", lambda w, here: ["evaluate", _script(w, here)],
     needle=("nowhere", "127.0.0.1"), env={**OFFLINE, "PURENET_DATA": "nowhere"})


# --- every format a new user brings, read as it should be (controls) ------------------------------------------

def _csv_text(transform: Callable[[str], bytes], header: bool = True) -> Callable[[World, Path], str]:
    def make(w: World, here: Path) -> str:
        text = "\n".join(",".join(row) for row in csv_lines(w.train_x[:100], w.train_y[:100], header=header)) + "\n"
        (here / "digits.csv").write_bytes(transform(text))
        return "digits.csv"
    return make


def _renamed_idx(w: World, here: Path) -> str:
    folder = idx_folder(w, here / "mnist", gz=False)
    for path in folder.iterdir():
        path.rename(path.with_name(path.name.replace("-idx", ".idx")))
    return "mnist"


def _kaggle_jpg(w: World, here: Path) -> str:
    class_folders(w, here / "mnistasjpg" / "trainingSet" / "trainingSet")
    test = here / "mnistasjpg" / "testSet" / "testSet"
    test.mkdir(parents=True)
    for k in range(3):
        Image.fromarray(w.test_x[k]).save(test / f"img_{k}.jpg")
    return "mnistasjpg"


WORKS = {
    "csv-crlf": _csv_text(lambda t: t.replace("\n", "\r\n").encode()),
    "csv-without-header": _csv_text(lambda t: t.encode(), header=False),
    "csv-quoted-cells": _csv_text(lambda t: "\n".join(",".join(f'"{c}"' for c in line.split(",")) for line in t.splitlines())
                                  .encode()),
    "csv-utf8-bom": _csv_text(lambda t: b"\xef\xbb\xbf" + t.encode()),
    "npz-float-images-0-1": _npz(lambda w: npz_bytes(images=w.train_x.astype(np.float32) / 255, labels=w.train_y)),
    "npz-one-hot-labels": _npz(lambda w: npz_bytes(images=w.train_x, labels=np.eye(10, dtype=np.float32)[w.train_y])),
    "npz-channels-first": _npz(lambda w: npz_bytes(x_train=w.train_x[:, None], y_train=w.train_y,
                                                   x_test=w.test_x[:, None], y_test=w.test_y)),
    "npz-old-script-layout": _npz(lambda w: npz_bytes(training_images=w.train_x.reshape(300, 784),
                                                      training_labels=w.train_y.astype(np.int64),
                                                      test_images=w.test_x.reshape(100, 784),
                                                      test_labels=w.test_y.astype(np.int64))),
    "idx-dotted-names-raw": _renamed_idx,
    "folders-kaggle-jpg-layout": _kaggle_jpg,
}
for _name, _make in WORKS.items():
    case(f"works-{_name}", on_data(_make), code=0, lines=None, after=holds_epoch("m.npz", 1))


# --- names the operating system refuses: too long, through a file, a symlink loop -----------------------------

LONG = "x" * 300
"""A file name longer than any file system takes (255 bytes): every system call on it fails with ENAMETOOLONG."""


LONG_CASES = {
    "train-out": lambda w, here: train(mnist_here(w, here), out=f"{LONG}.npz"),
    "train-out-in-long-folder": lambda w, here: train(mnist_here(w, here), out=f"{LONG}/m.npz"),
    "train-data": lambda w, here: train(f"{LONG}.npz"),
    "train-resume": lambda w, here: ["train", "--resume", f"{LONG}.npz", "--epochs", "2"],
    "evaluate-model": lambda w, here: ["evaluate", f"{LONG}.npz"],
    "evaluate-data": lambda w, here: ["evaluate", _ck(w, here), "--data", LONG],
    "evaluate-report": lambda w, here: ["evaluate", _ck(w, here), "--report", LONG],
    "predict-model": lambda w, here: then((here / "digit.png").write_bytes(w.digit_png),
                                          ["predict", "--model", f"{LONG}.npz", "digit.png"]),
    "predict-image": lambda w, here: ["predict", "--model", _ck(w, here), f"{LONG}.png"],
    "download-folder": lambda w, here: ["download", LONG, "--mirror", OFFLINE_MIRROR],
}
for _name, _build in LONG_CASES.items():
    case(f"name-too-long-{_name}", _build, needle="xxxxxxxxxx", env=OFFLINE)


THROUGH_A_FILE = {
    "train-out": lambda w, here: train(mnist_here(w, here), out=f"{_notes(here)}/m.npz"),
    "train-data": lambda w, here: train(f"{_notes(here)}/d.npz"),
    "train-resume": lambda w, here: ["train", "--resume", f"{_notes(here)}/ck.npz", "--epochs", "2"],
    "evaluate-model": lambda w, here: ["evaluate", f"{_notes(here)}/ck.npz"],
    "predict-model": lambda w, here: then((here / "digit.png").write_bytes(w.digit_png),
                                          ["predict", "--model", f"{_notes(here)}/ck.npz", "digit.png"]),
    "predict-image": lambda w, here: ["predict", "--model", _ck(w, here), f"{_notes(here)}/a.png"],
    "download-folder": lambda w, here: ["download", f"{_notes(here)}/mnist", "--mirror", OFFLINE_MIRROR],
}
for _name, _build in THROUGH_A_FILE.items():
    case(f"path-through-a-file-{_name}", _build, needle="notes.txt", env=OFFLINE)


def _loop(here: Path, name: str) -> str:
    (here / name).symlink_to(name)
    return name


LOOPS = {
    "train-out": (lambda w, here: train(mnist_here(w, here), out=_loop(here, "m.npz")), "m.npz"),
    "train-data": (lambda w, here: train(_loop(here, "d.npz")), "d.npz"),
    "evaluate-report": (lambda w, here: ["evaluate", _ck(w, here), "--report", _loop(here, "pics")], "pics"),
    "predict-image": (lambda w, here: ["predict", "--model", _ck(w, here), _loop(here, "a.png")], "a.png"),
    "download-folder": (lambda w, here: ["download", _loop(here, "mnist"), "--mirror", OFFLINE_MIRROR], "mnist"),
}
for _name, (_build, _needle) in LOOPS.items():
    case(f"symlink-loop-{_name}", _build, needle=_needle, env=OFFLINE)


# --- magnitudes a validator lets through: refuse them or train, never crash or hang ------------------------------

MAGNITUDES = {
    "shift-1e308": ["--shift", "1e308"],
    "rotation-1e308": ["--rotation", "1e308"],
    "elastic-alpha-1e308": ["--augment", "elastic", "--elastic-alpha", "1e308"],
    "warmup-1e308": ["--warmup", "1e308"],
    "decay-every-1e308": ["--decay-every", "1e308"],
    "decay-every-1e-300": ["--decay-every", "1e-300"],
    "lr-1e-320": ["--lr", "1e-320"],
    "batch-size-1e23": ["--batch-size", "99999999999999999999999"],
}
for _name, _args in MAGNITUDES.items():
    case(f"magnitude-{_name}", lambda w, here, _args=_args: train(mnist_here(w, here), *_args), code=(0, 2),
         needle=(_args[-2], _args[-2].strip("-").replace("-", " ")), process=True)


# --- divergence: exit 3, one line, nothing of the user's replaced -----------------------------------------------

def _nothing_saved(here: Path, result, w: World) -> None:
    assert not (here / "m.npz").exists(), "a diverged first epoch wrote a checkpoint"


case("diverge-sgd-lr-1e30", lambda w, here: train(mnist_here(w, here), "--optimizer", "sgd", "--lr", "1e30"), code=3,
     needle="--lr", after=_nothing_saved)
case("diverge-weight-decay-1e308", lambda w, here: train(mnist_here(w, here), "--weight-decay", "1e308"), code=3,
     needle="diverged", after=_nothing_saved)
case("diverge-keeps-an-existing-checkpoint",
     lambda w, here: then(_ck(w, here, "m.npz"), train(mnist_here(w, here), "--optimizer", "sgd", "--lr", "1e30")),
     code=3, needle="diverged")


# --- more resuming and reporting ----------------------------------------------------------------------------------

case("resume-into-another-file", resume("--epochs", "2", "--out", "next.npz"), code=0, lines=None,
     after=holds_epoch("next.npz", 2))


def _report_with_history(change: Callable[[dict], None]) -> Callable[[World, Path], list[str]]:
    def build(w: World, here: Path) -> list[str]:
        (here / "ck.npz").write_bytes(checkpoint_bytes(w, meta=change))
        return ["evaluate", "ck.npz", "--report", "R", "--data", _idx(True, n_test=10)(w, here)]
    return build


case("report-history-number-huge", _report_with_history(lambda m: m["history"][0].update(loss=10**400)), needle="ck.npz")
case("report-history-epoch-huge", _report_with_history(lambda m: m["history"][0].update(epoch=10**400)), needle="ck.npz")


# --- predict: what a new user's pictures look like ---------------------------------------------------------------

def _picture(save: Callable[[np.ndarray, Path], None], name: str) -> Callable[[World, Path], list[str]]:
    def build(w: World, here: Path) -> list[str]:
        ink = 255 - np.asarray(Image.open(io.BytesIO(w.digit_png)).convert("L"))  # dark ink on white paper
        save(255 - ink, here / name)
        return ["predict", "--model", _ck(w, here), name]
    return build


PICTURES = {
    "png-16-bit": (lambda a, p: Image.fromarray(a.astype(np.uint16) * 257).save(p), "d16.png"),
    "png-rgba-transparent": (lambda a, p: Image.fromarray(np.dstack([np.zeros_like(a)] * 3 + [255 - a])).save(p), "alpha.png"),
    "jpeg-cmyk": (lambda a, p: Image.fromarray(a).convert("CMYK").save(p, "JPEG"), "cmyk.jpg"),
    "gif-palette": (lambda a, p: Image.fromarray(a).convert("P").save(p, "GIF"), "d.gif"),
    "bmp": (lambda a, p: Image.fromarray(a).convert("RGB").save(p, "BMP"), "d.bmp"),
}
for _name, (_save, _file) in PICTURES.items():
    case(f"predict-works-{_name}", _picture(_save, _file), code=0, lines=None)

case("predict-blank-page", lambda w, here: then(Image.fromarray(np.full((100, 100), 255, np.uint8)).save(here / "blank.png"),
                                                ["predict", "--model", _ck(w, here), "blank.png"]), needle="blank.png")
case("predict-svg-text", lambda w, here: then((here / "d.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>"),
                                              ["predict", "--model", _ck(w, here), "d.svg"]), needle="d.svg")
case("predict-truncated-jpeg", lambda w, here: then((here / "cut.jpg").write_bytes(_jpeg(w)[: len(_jpeg(w)) // 2]),
                                                    ["predict", "--model", _ck(w, here), "cut.jpg"]), needle="cut.jpg")


def _jpeg(w: World) -> bytes:
    buffer = io.BytesIO()
    Image.open(io.BytesIO(w.digit_png)).convert("RGB").resize((300, 300)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


# --- more classes of defect, one module each (tests/corpus_cases_*.py) ----------------------------
# Each such module registers its cases with ``case(...)`` from this one; importing them here
# puts them in CASES. They are imported last, so every builder above is there for them.

def _load_more_cases() -> None:
    import importlib
    import sys

    here = Path(__file__).parent
    if str(here) not in sys.path:
        sys.path.insert(0, str(here))
    for module in sorted(here.glob("corpus_cases_*.py")):
        importlib.import_module(module.stem)


_load_more_cases()
