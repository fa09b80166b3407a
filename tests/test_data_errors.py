"""Every malformed source raises one ``DataError`` that names the file and what is wrong.

One test per case. Each builds a small good source under ``tmp_path``, breaks one
thing, and checks the message holds the broken file's path (and the line, where
there is one) and a word for the problem.
"""

from __future__ import annotations

import builtins
import gzip
import os
import re
import signal
import socket
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import traced_peak, write_idx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from test_data_formats import csv_text, save_images, write_idx_folder
from typer.testing import CliRunner

from purenet.cli.app import app
from purenet.data import DataError, Dataset, Split, load, read_idx


def library_error(path: Path) -> str:
    """The message of the DataError that loading ``path`` raises."""
    with pytest.raises(DataError) as info:
        load(path)
    return str(info.value)


def cli_error(path: Path) -> str:
    """What ``purenet train --data path`` says: one line on stderr, exit 2, no traceback,
    before any training and without creating the --out file."""
    out = path.parent / "never-written.npz"
    result = CliRunner().invoke(app, ["train", "--data", str(path), "--epochs", "1", "--out", str(out)])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("purenet: error: "), result.stderr
    assert "Traceback" not in result.output and not out.exists()
    return lines[0].removeprefix("purenet: error: ")


@pytest.fixture(params=["library", "cli"])
def error_of(request):
    """Each case runs twice: through ``purenet.data.load`` and through ``purenet train --data``."""
    return library_error if request.param == "library" else cli_error


def assert_names(message: str, file: Path, *words: str) -> None:
    """``message`` names ``file`` and, outside of any path (a temporary folder is named
    after its test, so it holds the test's words), says each of ``words``."""
    assert str(file) in message, message
    without_paths = re.sub(r"/\S*?pytest-\d+/[^\s:]*", "<path>", message)
    for word in words:
        assert word in without_paths, message


@pytest.fixture
def no_hang():
    """Fail, instead of waiting forever, if the code under test blocks (on a FIFO)."""

    def hung(signum, frame):
        raise TimeoutError("blocked: opened a FIFO?")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def refuse_to_open(monkeypatch):
    """``refuse_to_open(path)``: opening ``path`` fails with EACCES, as for a file without
    read permission (the suite runs as root, for whom chmod 000 changes nothing)."""
    real_open = builtins.open
    refused: set[Path] = set()

    def guarded_open(file, *args, **kwargs):
        if isinstance(file, (str, os.PathLike)) and Path(file) in refused:
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded_open)
    return refused.add


@pytest.fixture
def tiny(mnist) -> Dataset:
    return Dataset(train=mnist.train.take(slice(30)), test=mnist.test.take(slice(10)))


@pytest.fixture
def idx_folder(tmp_path, tiny) -> Path:
    return write_idx_folder(tmp_path / "mnist", tiny, gz=False)


def write_csv(tmp_path: Path, tiny: Dataset, replace: tuple[str, str] | None = None) -> Path:
    """The tiny training set as CSV, with one line (line 3) edited by ``replace``."""
    lines = csv_text(tiny.train).splitlines()
    if replace:
        lines[2] = lines[2].replace(*replace, 1)
    path = tmp_path / "digits.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


# ----------------------------------------------------------------- paths and IDX


def test_a_path_that_does_not_exist(error_of, tmp_path):
    missing = tmp_path / "nowhere"
    assert_names(error_of(missing), missing, "no such file")


def test_a_broken_link(error_of, tmp_path):
    link = tmp_path / "mnist.npz"
    link.symlink_to(tmp_path / "gone.npz")
    assert_names(error_of(link), link, "broken link")


@pytest.mark.parametrize("name", ["data", "mnist.npz", "digits.csv"])
def test_a_fifo_is_refused_without_blocking(error_of, tmp_path, no_hang, name):
    fifo = tmp_path / name
    os.mkfifo(fifo)  # opening it for reading would wait for a writer that never comes
    assert_names(error_of(fifo), fifo, "named pipe (FIFO)")


def test_a_device_is_refused_without_reading_it(error_of, tmp_path, no_hang):
    device = tmp_path / "zeros"
    device.symlink_to("/dev/zero")  # reading it would never end
    assert_names(error_of(device), device, "character device")


def test_an_empty_folder(error_of, tmp_path):
    folder = tmp_path / "downloads"
    folder.mkdir()
    assert_names(error_of(folder), folder, "empty folder")


@pytest.mark.parametrize("name, kind", [("digits.txt", "a .txt file"), ("README", "a file without a suffix")])
def test_a_file_of_an_unknown_kind(error_of, tmp_path, name, kind):
    path = tmp_path / name
    path.write_text("label,pixel0\n5,0\n")
    assert_names(error_of(path), path, f"{kind} is not a data set purenet can read")


def test_a_lone_npy_array(error_of, tmp_path):
    path = tmp_path / "images.npy"
    np.save(path, np.zeros((3, 784), dtype=np.uint8))
    assert_names(error_of(path), path, "single .npy array", "np.savez")


@pytest.mark.parametrize("name", ["mnist.npz", "digits.csv"])
def test_a_folder_named_like_a_file(error_of, tmp_path, name):
    folder = tmp_path / name
    folder.mkdir()
    (folder / "notes.txt").write_text("hello")
    assert_names(error_of(folder), folder, "a folder, not a")


@pytest.mark.parametrize("name, words", [("mnist.npz", "empty file (0 bytes)"), ("digits.csv", "empty CSV")])
def test_an_empty_file(error_of, tmp_path, name, words):
    path = tmp_path / name
    path.write_bytes(b"")
    assert_names(error_of(path), path, words)


def test_permission_denied(error_of, tmp_path, tiny, refuse_to_open):
    idx = write_idx_folder(tmp_path / "idx", tiny, gz=True)
    refuse_to_open(idx / "t10k-labels-idx1-ubyte.gz")
    assert_names(error_of(idx), idx / "t10k-labels-idx1-ubyte.gz", "cannot read", "Permission denied")
    npz = tmp_path / "mnist.npz"
    np.savez(npz, images=tiny.train.images, labels=tiny.train.labels)
    refuse_to_open(npz)
    assert_names(error_of(npz), npz, "cannot read", "Permission denied")
    csv = write_csv(tmp_path, tiny)
    refuse_to_open(csv)
    assert_names(error_of(csv), csv, "cannot read", "Permission denied")
    save_images(tmp_path / "pics", tiny.train.take(slice(5)))
    image = sorted((tmp_path / "pics").glob("*/*.png"))[2]
    refuse_to_open(image)
    assert_names(error_of(tmp_path / "pics"), image, "cannot read", "Permission denied")


def test_a_folder_missing_one_idx_file(error_of, idx_folder):
    (idx_folder / "t10k-labels-idx1-ubyte").unlink()
    assert_names(error_of(idx_folder), idx_folder, "t10k-labels-idx1-ubyte")


def test_truncated_idx(error_of, idx_folder):
    file = idx_folder / "train-images-idx3-ubyte"
    file.write_bytes(file.read_bytes()[:-100])
    assert_names(error_of(idx_folder), file, "truncated")


def test_truncated_gzip_stream(error_of, tmp_path, tiny):
    folder = write_idx_folder(tmp_path, tiny, gz=True)
    file = folder / "train-images-idx3-ubyte.gz"
    file.write_bytes(file.read_bytes()[:-500])
    assert_names(error_of(folder), file, "truncated")


def test_idx_with_more_data_than_its_header_promises(error_of, idx_folder):
    file = idx_folder / "t10k-labels-idx1-ubyte"
    file.write_bytes(file.read_bytes() + b"\x01")
    assert_names(error_of(idx_folder), file, "more data")


def test_wrong_magic_number(error_of, idx_folder):
    file = idx_folder / "train-labels-idx1-ubyte"
    raw = bytearray(file.read_bytes())
    raw[:4] = b"\x00\x00\x0d\x01"  # an IDX of floats, not of bytes
    file.write_bytes(bytes(raw))
    assert_names(error_of(idx_folder), file, "0x0d")
    raw[:4] = b"PK\x03\x04"
    file.write_bytes(bytes(raw))
    assert_names(error_of(idx_folder), file, "magic number")


def test_image_and_label_counts_differ(error_of, idx_folder, tiny):
    file = idx_folder / "train-labels-idx1-ubyte"
    write_idx(file, tiny.train.labels[:-1])
    assert_names(error_of(idx_folder), idx_folder / "train-images-idx3-ubyte", "30 images", "29 labels")


def test_empty_idx_file(error_of, idx_folder):
    file = idx_folder / "t10k-images-idx3-ubyte"
    file.write_bytes(b"")
    assert_names(error_of(idx_folder), file, "too short")


def test_empty_idx_parts(error_of, idx_folder, tiny):
    write_idx(idx_folder / "t10k-images-idx3-ubyte", tiny.test.images[:0].reshape(0, 28, 28))
    write_idx(idx_folder / "t10k-labels-idx1-ubyte", tiny.test.labels[:0])
    assert_names(error_of(idx_folder), idx_folder / "t10k-images-idx3-ubyte", "holds no images")


def test_idx_images_of_no_pixels(error_of, idx_folder):
    file = idx_folder / "train-images-idx3-ubyte"
    write_idx(file, np.zeros((30, 0, 28), dtype=np.uint8))
    assert_names(error_of(idx_folder), file, "0x28 pixels")


def test_idx_of_the_wrong_number_of_dimensions(error_of, idx_folder, tiny):
    images, labels = idx_folder / "train-images-idx3-ubyte", idx_folder / "train-labels-idx1-ubyte"
    write_idx(images, tiny.train.images)  # (30, 784): flat, not (N, rows, cols)
    assert_names(error_of(idx_folder), images, "expected 3 dimensions (N, rows, cols), found 2")
    write_idx(images, tiny.train.images.reshape(-1, 28, 28))
    write_idx(labels, tiny.train.labels.reshape(-1, 1))
    assert_names(error_of(idx_folder), labels, "expected 1 dimension (N,), found 2")


def test_idx_of_too_many_dimensions(tmp_path):
    file = tmp_path / "deep-idx"
    file.write_bytes(bytes([0, 0, 8, 200]) + b"\0\0\0\1" * 200 + b"x")
    assert_names(str(pytest.raises(DataError, read_idx, file).value), file, "200 dimensions")


def test_idx_of_another_data_type(error_of, idx_folder):
    file = idx_folder / "t10k-images-idx3-ubyte"
    raw = bytearray(file.read_bytes())
    raw[2] = 0x0B
    file.write_bytes(bytes(raw))
    assert_names(error_of(idx_folder), file, "0x0b (int16)", "unsigned bytes (0x08) only")


def test_idx_with_a_truncated_header(error_of, idx_folder):
    file = idx_folder / "train-images-idx3-ubyte"
    file.write_bytes(bytes([0, 0, 8, 3, 0, 0, 0, 30, 0, 0]))
    assert_names(error_of(idx_folder), file, "truncated header")


def test_raw_idx_sizes_are_compared_exactly(error_of, idx_folder):
    file = idx_folder / "train-images-idx3-ubyte"
    raw = file.read_bytes()
    file.write_bytes(raw[:-1])
    assert_names(error_of(idx_folder), file, "truncated", "23520 bytes", "holds 23519")
    file.write_bytes(raw + b"\0\0")
    assert_names(error_of(idx_folder), file, "more data", "23522 bytes, not 23520")


def gzip_idx(path: Path, shape: tuple[int, ...], data: bytes) -> Path:
    """A gzipped IDX file whose header says ``shape``, whatever ``data`` holds."""
    path.write_bytes(gzip.compress(bytes([0, 0, 8, len(shape)]) + np.array(shape, ">u4").tobytes() + data))
    return path


def test_gzip_idx_whose_header_disagrees_with_its_data(error_of, tmp_path, tiny):
    folder = write_idx_folder(tmp_path, tiny, gz=True)
    file = folder / "train-images-idx3-ubyte.gz"
    labels = folder / "train-labels-idx1-ubyte.gz"  # as many labels as the header says (counts are compared first)
    gzip_idx(file, (31, 28, 28), tiny.train.images.tobytes())  # the ISIZE trailer disagrees: counted
    gzip_idx(labels, (31,), tiny.train.labels.tobytes() + b"\0")
    assert_names(error_of(folder), file, "truncated", "24304 bytes", "holds 23520")
    gzip_idx(file, (29, 28, 28), tiny.train.images.tobytes())
    gzip_idx(labels, (29,), tiny.train.labels.tobytes()[:29])
    assert_names(error_of(folder), file, "more data", "23520 bytes, not 22736")


def test_gzip_idx_header_promising_more_than_deflate_can_hold(error_of, tmp_path, tiny):
    folder = write_idx_folder(tmp_path, tiny, gz=True)
    file = gzip_idx(folder / "train-images-idx3-ubyte.gz", (60000, 2800, 2800), b"\0" * 1000)
    gzip_idx(folder / "train-labels-idx1-ubyte.gz", (60000,), bytes(60000))  # counts agree: the size is what is wrong
    assert_names(error_of(folder), file, "truncated", "cannot hold")


def test_a_lying_gzip_idx_header_allocates_nothing(tmp_path):
    noise = np.random.default_rng(0).integers(0, 256, 200_000, dtype=np.uint8).tobytes()  # 200 KB, incompressible
    file = gzip_idx(tmp_path / "train-images-idx3-ubyte.gz", (300, 1000, 1000), noise)  # claims 300 MB
    caught, peak = traced_peak(lambda: pytest.raises(DataError, read_idx, file, ndim=3))
    assert "truncated: header promises 300000000 bytes" in str(caught.value)
    assert peak < 20 * 2**20


def test_an_idx_file_that_is_a_fifo(error_of, idx_folder, no_hang):
    file = idx_folder / "t10k-labels-idx1-ubyte"
    file.unlink()
    os.mkfifo(file)
    assert_names(error_of(idx_folder), file, "named pipe (FIFO)")


def test_header_promising_more_than_the_file_holds(error_of, idx_folder):
    file = idx_folder / "train-images-idx3-ubyte"
    file.write_bytes(bytes([0, 0, 8, 3]) + np.array([4_000_000, 280, 280], ">u4").tobytes() + b"\0" * 64)
    labels = idx_folder / "train-labels-idx1-ubyte"  # counts agree (they are compared first): the size is what is wrong
    labels.write_bytes(bytes([0, 0, 8, 1]) + np.array([4_000_000], ">u4").tobytes() + b"\0" * 30)
    assert_names(error_of(idx_folder), file, "truncated")


# ----------------------------------------------------------------- CSV


def test_csv_row_with_the_wrong_number_of_columns(error_of, tmp_path, tiny):
    path = write_csv(tmp_path, tiny, replace=(",", ",0,"))  # one extra cell on line 3
    assert_names(error_of(path), path, "line 3", "786 columns", "expected 785")


def test_csv_non_numeric_cell(error_of, tmp_path, tiny):
    path = write_csv(tmp_path, tiny, replace=(",0,", ",zero,"))
    assert_names(error_of(path), path, "line 3", "'zero'", "not a number")


def test_csv_empty_cell(error_of, tmp_path, tiny):
    path = write_csv(tmp_path, tiny, replace=(",0,", ",,"))
    assert_names(error_of(path), path, "line 3", "empty cell")


def test_csv_label_above_255(error_of, tmp_path, tiny):
    label = str(tiny.train.labels[2])
    path = write_csv(tmp_path, tiny, replace=(label + ",", "256,"))
    assert_names(error_of(path), path, "line 3, column 1", "label 256 is above 255")


def test_csv_negative_label(error_of, tmp_path, tiny):
    label = str(tiny.train.labels[2])
    path = write_csv(tmp_path, tiny, replace=(label + ",", "-" + label + ","))
    assert_names(error_of(path), path, "line 3, column 1", f"label -{label} is negative")


@pytest.mark.parametrize("cell", ["0.5", "1.0", "2e2"])
def test_csv_decimal_cell(error_of, tmp_path, tiny, cell):
    path = write_csv(tmp_path, tiny, replace=(",0,", f",{cell},"))
    assert_names(error_of(path), path, "line 3, column ", f"pixel {cell} is not a whole number")


def test_csv_long_cell_is_shortened(error_of, tmp_path, tiny):
    path = write_csv(tmp_path, tiny, replace=(",0,", ",pixel" + "x" * 5000 + ","))
    message = error_of(path)
    assert_names(message, path, "line 3, column ", "'pixelxxxxxxxxxxxxxxx...' is not a number")
    assert len(message) < 300
    path = write_csv(tmp_path, tiny, replace=(",0,", "," + "9" * 5000 + ","))
    assert_names(error_of(path), path, "line 3, column ", "pixel 99999999999999999999... is above 255")


def test_csv_bytes_that_are_not_utf8(error_of, tmp_path, tiny):
    path = write_csv(tmp_path, tiny)
    path.write_bytes(path.read_bytes().replace(b",0,", b",\xe9,", 1))  # Latin-1 for "é"
    assert_names(error_of(path), path, "line 1, column ", "not UTF-8")


def test_csv_header_that_is_not_utf8(error_of, tmp_path, tiny):
    path = tmp_path / "digits.csv"
    path.write_bytes(csv_text(tiny.train, header=True).replace("pixel5,", "pix\xe9l5,").encode("latin-1"))
    assert_names(error_of(path), path, "line 1 (the header) is not UTF-8")


@pytest.mark.parametrize("separator, name", [(";", "semicolons"), ("\t", "tabs")])
def test_csv_with_another_separator(error_of, tmp_path, tiny, separator, name):
    path = tmp_path / "digits.csv"
    path.write_text(csv_text(tiny.train, header=True).replace(",", separator))
    assert_names(error_of(path), path, "line 1", f"separated by {name}", "expected commas")


def test_csv_of_one_column(error_of, tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("label\n5\n0\n4\n")
    assert_names(error_of(path), path, "line 1 has 1 column", "a label, then pixel values")


def test_kaggle_test_csv_without_labels(error_of, tmp_path, tiny):
    path = tmp_path / "test.csv"  # Kaggle's digit-recognizer test.csv: pixel0..pixel783, no label column
    rows = "\n".join(",".join(map(str, row)) for row in tiny.test.images)
    path.write_text(",".join(f"pixel{i}" for i in range(784)) + "\n" + rows + "\n")
    assert_names(error_of(path), path, "no label column", "'pixel0'")


def test_csv_with_a_pandas_index_column(error_of, tmp_path, tiny):
    path = tmp_path / "digits.csv"
    lines = csv_text(tiny.train, header=True).splitlines()
    path.write_text("\n".join(f"{i - 1 if i else ''},{line}" for i, line in enumerate(lines)) + "\n")
    assert_names(error_of(path), path, "unnamed column", "index=False")


def test_csv_whose_rows_are_longer_than_its_header(error_of, tmp_path, tiny):
    path = tmp_path / "digits.csv"
    lines = csv_text(tiny.train, header=True).splitlines()
    path.write_text(lines[0].rsplit(",", 1)[0] + "\n" + "\n".join(lines[1:]))
    assert_names(error_of(path), path, "line 2 has 785 columns but the header (line 1) has 784")


@pytest.mark.parametrize("packed", ["gzip", "utf-16"])
def test_csv_that_is_not_plain_text(error_of, tmp_path, tiny, packed):
    path = tmp_path / "digits.csv"
    text = csv_text(tiny.train, header=True)
    path.write_bytes(gzip.compress(text.encode()) if packed == "gzip" else text.encode("utf-16"))
    assert_names(error_of(path), path, "not a CSV text file", "gzip" if packed == "gzip" else "UTF-16")


def test_csv_first_row_wider_than_the_file_allocates_nothing(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text("1," + ",".join(["0"] * 100_000) + "\n" + "1,2\n" * 5000)  # 5000 x 100,000 cells: 500 MB
    caught, peak = traced_peak(lambda: pytest.raises(DataError, load, path))
    message = str(caught.value)
    assert_names(message, path, "line 2 has 2 columns, expected 100001")
    assert peak < 50 * 2**20


def test_csv_a_bad_cell_before_a_short_row_is_reported_first(error_of, tmp_path, tiny):
    lines = csv_text(tiny.train).splitlines()
    lines[4] = lines[4].replace(",0,", ",x,", 1)
    lines[6] = lines[6].rsplit(",", 1)[0]
    path = tmp_path / "digits.csv"
    path.write_text("\n".join(lines))
    assert_names(error_of(path), path, "line 5, column ", "'x' is not a number")


BAD_CELLS = {
    "": "empty cell", "x": "'x' is not a number", "0.5": "is not a whole number", "-3": "is negative",
    "256": "is above 255", "999": "is above 255", "1e2": "is not a whole number", "+-": "'+-' is not a number",
    "\u00e9": "'\u00e9' is not a number",
}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    shape=st.tuples(st.integers(1, 40), st.integers(1, 30)),
    where=st.tuples(st.floats(0, 1, exclude_max=True), st.floats(0, 1, exclude_max=True)),
    cell=st.sampled_from(sorted(BAD_CELLS)),
    header=st.booleans(),
    crlf=st.booleans(),
)
def test_csv_one_random_bad_cell_is_named_by_line_and_column(tmp_path, shape, where, cell, header, crlf):
    rows, pixels = shape
    values = np.random.default_rng(rows * 100 + pixels).integers(0, 256, (rows, pixels + 1)).astype(str)
    row, column = int(where[0] * rows), int(where[1] * (pixels + 1))
    values[row, column] = cell
    lines = [",".join(r) for r in values]
    if header:
        lines.insert(0, ",".join(["label"] + [f"pixel{i}" for i in range(pixels)]))
    path = tmp_path / "random.csv"
    path.write_bytes(("\r\n" if crlf else "\n").join(lines).encode())
    message = str(pytest.raises(DataError, load, path).value)
    assert message.startswith(f"{path}: line {row + 1 + header}, column {column + 1}: "), message
    assert BAD_CELLS[cell] in message and "\n" not in message


def test_csv_pixel_outside_0_to_255(error_of, tmp_path, tiny):
    path = write_csv(tmp_path, tiny, replace=(",0,", ",256,"))
    assert_names(error_of(path), path, "line 3", "pixel 256", "0-255")


def test_csv_negative_pixel(error_of, tmp_path, tiny):
    path = write_csv(tmp_path, tiny, replace=(",0,", ",-1,"))
    assert_names(error_of(path), path, "line 3", "pixel -1", "0-255")


def test_csv_error_is_located_after_many_rows(error_of, tmp_path, mnist):
    lines = csv_text(mnist.train.take(slice(400))).splitlines()
    lines[350] = lines[350].replace(",0,", ",x,", 1)
    path = tmp_path / "long.csv"
    path.write_text("label," + ",".join(f"p{i}" for i in range(784)) + "\n" + "\n".join(lines))
    assert_names(error_of(path), path, "line 352,")  # one header line, then line 351 is lines[349]


@pytest.mark.parametrize("text", ["", "\n\n", "label,pixel0,pixel1\n", "\ufefflabel,pixel0\r\n\r\n"],
                         ids=["empty", "blank", "header-only", "bom-header-only"])
def test_empty_csv(error_of, tmp_path, text):
    path = tmp_path / "empty.csv"
    path.write_text(text)
    assert_names(error_of(path), path, "empty CSV", "holds no images")


def test_csv_folder_with_a_bad_test_file(error_of, tmp_path, tiny):
    (tmp_path / "mnist_train.csv").write_text(csv_text(tiny.train))
    (tmp_path / "mnist_test.csv").write_text(csv_text(tiny.test).replace(",0,", ",?,", 1))
    assert_names(error_of(tmp_path), tmp_path / "mnist_test.csv", "line 1")


def test_train_and_test_with_different_pixel_counts(error_of, tmp_path, tiny):
    (tmp_path / "mnist_train.csv").write_text(csv_text(tiny.train))
    small = Split(images=tiny.test.images[:, :100], labels=tiny.test.labels)
    (tmp_path / "mnist_test.csv").write_text(csv_text(small))
    assert_names(error_of(tmp_path), tmp_path, "784 pixels", "100")


# ----------------------------------------------------------------- .npz


def test_file_named_npz_that_is_not_one(error_of, tmp_path):
    path = tmp_path / "mnist.npz"
    path.write_bytes(gzip.compress(b"not a zip"))
    assert_names(error_of(path), path, "not an .npz")


def test_corrupt_npz(error_of, tmp_path, tiny):
    path = tmp_path / "mnist.npz"
    np.savez(path, images=tiny.train.images, labels=tiny.train.labels)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])  # the zip's directory, at the end, is gone
    assert_names(error_of(path), path, "not a readable .npz")


def test_npz_with_unknown_keys(error_of, tmp_path, tiny):
    path = tmp_path / "mnist.npz"
    np.savez(path, pictures=tiny.train.images, digits=tiny.train.labels)
    assert_names(error_of(path), path, "unknown .npz layout", "pictures", "x_train")


def test_npz_holding_pickled_objects(error_of, tmp_path, tiny):
    path = tmp_path / "mnist.npz"
    objects = np.empty(len(tiny.train), dtype=object)
    objects[:] = [row for row in tiny.train.images]
    np.savez(path, images=objects, labels=tiny.train.labels)
    assert_names(error_of(path), path, "'images'", "pickled objects")


@pytest.mark.parametrize("low, high", [(-0.5, 1.0), (0.0, 300.0)])
def test_npz_float_pixels_out_of_range(error_of, tmp_path, tiny, low, high):
    path = tmp_path / "mnist.npz"
    floats = tiny.train.images.astype(np.float32) / 255 * (high - low) + low
    np.savez(path, images=floats, labels=tiny.train.labels)
    assert_names(error_of(path), path, "'images'", f"float32 pixels from {low:g} to {high:g}", "[0, 1]", "0-255")


@pytest.mark.parametrize("value, word", [(np.nan, "NaN"), (np.inf, "infinite"), (-np.inf, "infinite")])
def test_npz_float_pixels_not_finite(error_of, tmp_path, tiny, value, word):
    path = tmp_path / "mnist.npz"
    floats = tiny.train.images / 255
    floats[3, 100] = value
    np.savez(path, images=floats, labels=tiny.train.labels)
    assert_names(error_of(path), path, "'images'", word)


def test_npz_integer_pixels_out_of_range(error_of, tmp_path, tiny):
    path = tmp_path / "mnist.npz"
    np.savez(path, images=tiny.train.images.astype(np.int16) * 2 - 10, labels=tiny.train.labels)
    assert_names(error_of(path), path, "'images'", "int16 pixels from -10 to 500", "0-255")


@pytest.mark.parametrize(
    "dtype, word",
    [("U3", "<U3 (text)"), ("S3", "|S3 (bytes)"), ("c8", "complex64"), ("M8[D]", "datetime64[D] (dates)"),
     ("?", "bool (booleans)"), ("i4,i4", "structured"), ("V4", "|V4")],
)
def test_npz_member_that_is_not_numbers(error_of, tmp_path, tiny, dtype, word):
    path = tmp_path / "mnist.npz"
    np.savez(path, images=np.zeros((len(tiny.train), 28, 28), dtype=dtype), labels=tiny.train.labels)
    assert_names(error_of(path), path, "'images' holds", word, "as numbers")
    np.savez(path, images=tiny.train.images, labels=np.zeros(len(tiny.train), dtype=dtype))
    assert_names(error_of(path), path, "'labels' holds", word, "as numbers")


def test_npz_zero_dimensional_members(error_of, tmp_path, tiny):
    path = tmp_path / "mnist.npz"
    np.savez(path, images=np.array(7), labels=tiny.train.labels)
    assert_names(error_of(path), path, "'images' is a single value")
    np.savez(path, images=tiny.train.images, labels=np.array(3))
    assert_names(error_of(path), path, "'labels' is a single value")


def test_npz_colour_images(error_of, tmp_path, tiny):
    path = tmp_path / "mnist.npz"
    rgb = np.repeat(tiny.train.images.reshape(-1, 28, 28, 1), 3, axis=3)
    np.savez(path, images=rgb, labels=tiny.train.labels)
    assert_names(error_of(path), path, "'images'", "(30, 28, 28, 3)", "3 channels", "one channel")


def test_npz_images_of_five_dimensions(error_of, tmp_path, tiny):
    path = tmp_path / "mnist.npz"
    np.savez(path, images=tiny.train.images.reshape(-1, 1, 28, 28, 1), labels=tiny.train.labels)
    assert_names(error_of(path), path, "'images' has shape (30, 1, 28, 28, 1)")


def test_npz_with_no_images(error_of, tmp_path, tiny):
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=np.zeros((0, 28, 28), np.uint8), y_train=np.zeros(0, np.uint8))
    assert_names(error_of(path), path, "'x_train' holds no images")


def test_npz_with_half_a_test_part(error_of, tmp_path, tiny):
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=tiny.train.images, y_train=tiny.train.labels, x_test=tiny.test.images)
    assert_names(error_of(path), path, "'x_test' but no 'y_test'")


def test_npz_train_and_test_images_of_different_shapes(error_of, tmp_path, tiny):
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=tiny.train.images.reshape(-1, 28, 28), y_train=tiny.train.labels,
             x_test=tiny.test.images.reshape(-1, 49, 16), y_test=tiny.test.labels)
    assert_names(error_of(path), path, "training images are 28x28 but test images are 49x16")


def test_npz_holding_a_member_that_is_not_an_array(error_of, tmp_path, tiny):
    path = tmp_path / "mnist.npz"
    np.savez(path, images=tiny.train.images, labels=tiny.train.labels)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("README.txt", "digits, from MNIST")
    assert_names(error_of(path), path, "member 'README.txt' is not a NumPy array")


def test_npz_header_claiming_more_than_the_member_holds(error_of, tmp_path, tiny):
    path = tmp_path / "mnist.npz"
    np.savez(path, images=tiny.train.images, labels=tiny.train.labels)
    raw = path.read_bytes()
    path.write_bytes(raw.replace(b"(30, 784), }" + b" " * 6, b"(30000000, 784), }", 1))  # same header length
    assert_names(error_of(path), path, "'images' claims more bytes than it holds", "23520000000 bytes")


def test_npz_labels_that_are_not_one_hot(error_of, tmp_path, tiny):
    path = tmp_path / "mnist.npz"
    np.savez(path, images=tiny.train.images, labels=np.ones((len(tiny.train), 10)))
    assert_names(error_of(path), path, "'labels'", "not one-hot")


@pytest.mark.parametrize(
    "value, words",
    [(-1, "holds -1 at index 4, a negative label"), (256, "holds 256 at index 4, above 255"),
     (2.5, "holds 2.5 at index 4, not a whole number"), (np.nan, "holds NaN (not a number) at index 4"),
     (np.inf, "holds inf at index 4")],
)
def test_npz_label_that_is_no_whole_number_0_to_255(error_of, tmp_path, tiny, value, words):
    path = tmp_path / "mnist.npz"
    labels = tiny.train.labels.astype(np.float64 if isinstance(value, float) else np.int64)
    labels[4] = value
    np.savez(path, images=tiny.train.images, labels=labels)
    assert_names(error_of(path), path, "'labels'", words, "whole numbers 0-255")


def test_npz_image_and_label_counts_differ(error_of, tmp_path, tiny):
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=tiny.train.images, y_train=tiny.train.labels[:-3])
    assert_names(error_of(path), path, "30 images", "27 labels")


# ----------------------------------------------------------------- class folders and others


@pytest.mark.parametrize("content", [b"", b"GIF89a but not really", b"\x89PNG\r\n\x1a\n" + b"\0" * 40])
def test_non_image_or_corrupt_file_in_a_class_folder(error_of, tmp_path, tiny, content):
    save_images(tmp_path, tiny.train.take(slice(10)))
    bad = tmp_path / str(tiny.train.labels[0]) / "broken.png"
    bad.write_bytes(content)
    assert_names(error_of(tmp_path), bad, "not an image")


def test_truncated_jpeg_in_a_class_folder(error_of, tmp_path):
    (tmp_path / "4").mkdir()
    good = tmp_path / "4" / "good.jpg"
    Image.fromarray(np.arange(784, dtype=np.uint8).reshape(28, 28)).save(good)
    bad = tmp_path / "4" / "cut.jpg"
    bad.write_bytes(good.read_bytes()[:200])
    assert_names(error_of(tmp_path), bad, "not an image")


def test_empty_class_folder(error_of, tmp_path, tiny):
    save_images(tmp_path / "train", tiny.train.take(slice(10)))
    (tmp_path / "train" / "9").mkdir(exist_ok=True)
    for file in (tmp_path / "train" / "9").iterdir():
        file.unlink()
    assert_names(error_of(tmp_path), tmp_path / "train" / "9", "empty class folder", "holds no images")


def test_decompression_bomb_in_a_class_folder(error_of, tmp_path, tiny, monkeypatch):
    save_images(tmp_path, tiny.train.take(slice(5)))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 300)  # 28x28 = 784 pixels: more than twice the limit
    bomb = sorted(tmp_path.glob("*/*.png"))[0]
    assert_names(error_of(tmp_path), bomb, "image too large", "decompression bomb")


def test_broken_link_in_a_class_folder(error_of, tmp_path, tiny):
    save_images(tmp_path, tiny.train.take(slice(5)))
    link = tmp_path / str(tiny.train.labels[0]) / "moved.png"
    link.symlink_to(tmp_path / "elsewhere.png")
    assert_names(error_of(tmp_path), link, "broken link")


def make_special(path: Path, kind: str) -> None:
    if kind == "fifo":
        os.mkfifo(path)  # opening it for reading would wait for a writer
    elif kind == "socket":
        with socket.socket(socket.AF_UNIX) as server:
            server.bind(str(path))
    else:
        path.symlink_to("/dev/zero")  # reading it would never end


@pytest.mark.parametrize("kind, words", [("fifo", "named pipe (FIFO)"), ("socket", "a socket"), ("device", "character device")])
def test_special_file_in_a_class_folder_is_refused_unopened(error_of, tmp_path, tiny, no_hang, kind, words):
    save_images(tmp_path, tiny.train.take(slice(10)))
    special = tmp_path / str(tiny.train.labels[0]) / "z.png"
    make_special(special, kind)
    assert_names(error_of(tmp_path), special, words, "not an image file")


def test_class_folder_of_only_a_fifo(error_of, tmp_path, tiny, no_hang):
    save_images(tmp_path, tiny.train.take(slice(5)))
    (tmp_path / "8").mkdir(exist_ok=True)
    for file in (tmp_path / "8").iterdir():
        file.unlink()
    os.mkfifo(tmp_path / "8" / "pipe.png")
    assert_names(error_of(tmp_path), tmp_path / "8" / "pipe.png", "named pipe (FIFO)")


def test_two_class_folders_for_one_label(error_of, tmp_path, tiny):
    save_images(tmp_path, tiny.train.take(slice(5)))
    label = tiny.train.labels[0]
    (tmp_path / f"0{label}").mkdir()
    assert_names(error_of(tmp_path), tmp_path, f"0{label}/ and {label}/ both stand for label {label}")


def test_train_and_test_class_folders_of_different_image_shapes(tmp_path, tiny):
    from purenet.data.splits import make_dataset

    small = Split(images=tiny.train.images[:, :100], labels=tiny.train.labels, image_shape=(10, 10))
    wide = Split(images=tiny.test.images[:, :100], labels=tiny.test.labels, image_shape=(4, 25))
    with pytest.raises(DataError, match=r"^src: training images are 10x10 but test images are 4x25$"):
        make_dataset(small, wide, Path("src"))
    with pytest.raises(DataError, match=r"^src: the test part holds no images$"):
        make_dataset(small, wide.take(slice(0)), Path("src"))


def test_train_folder_without_class_folders(error_of, tmp_path):
    (tmp_path / "train" / "cats").mkdir(parents=True)
    assert_names(error_of(tmp_path), tmp_path / "train", "no class folders")


def test_a_folder_of_something_else(error_of, tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    assert_names(error_of(tmp_path), tmp_path, "not a data set")


def test_a_csv_folder_whose_test_file_is_a_fifo(error_of, tmp_path, tiny, no_hang):
    (tmp_path / "mnist_train.csv").write_text(csv_text(tiny.train))
    os.mkfifo(tmp_path / "mnist_test.csv")
    assert_names(error_of(tmp_path), tmp_path / "mnist_test.csv", "named pipe (FIFO)")


def test_a_checkpoint_is_not_a_data_set(error_of, tmp_path):
    path = tmp_path / "model.npz"
    np.savez(path, meta=np.array('{"format": "purenet-checkpoint"}'), **{"param.0.w": np.zeros((784, 10), np.float32)})
    assert_names(error_of(path), path, "a purenet checkpoint (a trained model), not a data set")


def test_a_single_idx_file_of_another_name_asks_for_a_folder(error_of, tmp_path, tiny):
    file = write_idx(tmp_path / "emnist-letters-train-images-idx3-ubyte.gz", tiny.train.images.reshape(-1, 28, 28))
    assert_names(error_of(file), file, "a single IDX file", "train-images-idx3-ubyte")


def test_a_single_idx_file_asks_for_its_folder(error_of, idx_folder):
    file = idx_folder / "train-images-idx3-ubyte"
    assert_names(error_of(file), file, "single IDX file")


def test_the_real_command_exits_2_on_a_truncated_idx(idx_folder, tmp_path):
    import subprocess

    from test_cli_train import installed_purenet

    file = idx_folder / "train-labels-idx1-ubyte"
    file.write_bytes(file.read_bytes()[:-3])
    completed = subprocess.run(
        [installed_purenet(), "train", "--data", str(idx_folder), "--out", str(tmp_path / "m.npz")],
        capture_output=True, text=True, timeout=60,
    )
    assert completed.returncode == 2
    assert completed.stderr.count("\n") == 1 and str(file) in completed.stderr
    assert completed.stdout == "" and not (tmp_path / "m.npz").exists()


# --- compressed members: only the layout's arrays are decompressed, and only when they agree ---------

from bombs import METHODS, archive, member, stored  # noqa: E402

BIG = 60 * 2**20 // 784  # 60 MB of images: under the archive's expansion floor, so the counts decide



@pytest.mark.parametrize("method", METHODS)
def test_npz_images_and_labels_that_disagree_are_refused_before_decompressing(tmp_path, method):
    path = tmp_path / "bomb.npz"
    path.write_bytes(archive([member("x_train", (BIG, 28, 28), np.uint8, METHODS[method]),
                              stored("y_train", np.zeros(300, np.uint8))]))

    def refused():
        with pytest.raises(DataError, match=f"{BIG} images in 'x_train' but 300 labels in 'y_train'"):
            load(path)

    assert traced_peak(refused)[1] < 16 * 2**20


def test_npz_members_outside_the_layout_are_never_decompressed(tmp_path, tiny):
    path = tmp_path / "data.npz"
    path.write_bytes(archive([stored("images", tiny.train.images), stored("labels", tiny.train.labels),
                              member("notes", (BIG * 784,), np.uint8, METHODS["bzip2"])]))
    loaded, peak = traced_peak(lambda: load(path))
    assert peak < 16 * 2**20
    assert np.array_equal(loaded.train.images, tiny.train.images)
