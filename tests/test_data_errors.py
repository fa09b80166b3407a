"""Every malformed source raises one ``DataError`` that names the file and what is wrong.

One test per case. Each builds a small good source under ``tmp_path``, breaks one
thing, and checks the message holds the broken file's path (and the line, where
there is one) and a word for the problem.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from typer.testing import CliRunner

from purenet.cli.app import app
from purenet.data import DataError, Dataset, Split, load

from conftest import write_idx
from test_data_formats import csv_text, save_images, write_idx_folder


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
    assert str(file) in message, message
    for word in words:
        assert word in message, message


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


def test_idx_label_outside_0_to_9(error_of, idx_folder, tiny):
    file = idx_folder / "t10k-labels-idx1-ubyte"
    labels = tiny.test.labels.copy()
    labels[4] = 12
    write_idx(file, labels)
    assert_names(error_of(idx_folder), file, "label 12", "0-9")


def test_header_promising_more_than_the_file_holds(error_of, idx_folder):
    file = idx_folder / "train-images-idx3-ubyte"
    file.write_bytes(bytes([0, 0, 8, 3]) + np.array([4_000_000, 280, 280], ">u4").tobytes() + b"\0" * 64)
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


def test_csv_label_outside_0_to_9(error_of, tmp_path, tiny):
    label = str(tiny.train.labels[2])
    path = write_csv(tmp_path, tiny, replace=(label + ",", "10,"))
    assert_names(error_of(path), path, "line 3, column 1", "label 10", "0-9")


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


@pytest.mark.parametrize("text", ["", "\n\n", "label,pixel0,pixel1\n"], ids=["empty", "blank", "header-only"])
def test_empty_csv(error_of, tmp_path, text):
    path = tmp_path / "empty.csv"
    path.write_text(text)
    assert_names(error_of(path), path, "empty CSV")


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


def test_npz_float_pixels_outside_0_to_1(error_of, tmp_path, tiny):
    path = tmp_path / "mnist.npz"
    np.savez(path, images=tiny.train.images.astype(np.float32), labels=tiny.train.labels)
    assert_names(error_of(path), path, "'images'", "[0, 1]")


def test_npz_labels_that_are_not_one_hot(error_of, tmp_path, tiny):
    path = tmp_path / "mnist.npz"
    np.savez(path, images=tiny.train.images, labels=np.ones((len(tiny.train), 10)))
    assert_names(error_of(path), path, "'labels'", "not one-hot")


def test_npz_label_outside_0_to_9(error_of, tmp_path, tiny):
    path = tmp_path / "mnist.npz"
    np.savez(path, images=tiny.train.images, labels=tiny.train.labels.astype(int) + 5)
    assert_names(error_of(path), path, "'labels'", "0-9")


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
    assert_names(error_of(tmp_path), tmp_path / "train" / "9", "empty class folder")


def test_train_folder_without_class_folders(error_of, tmp_path):
    (tmp_path / "train" / "cats").mkdir(parents=True)
    assert_names(error_of(tmp_path), tmp_path / "train", "no class folders")


def test_a_folder_of_something_else(error_of, tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    assert_names(error_of(tmp_path), tmp_path, "not a data set")


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
