"""``purenet.data.load`` reads every supported format to the same uint8 arrays.

Each test writes a small copy of MNIST (a few hundred images, taken from the
committed data) in another format under ``tmp_path`` and checks that loading it
gives back exactly those pixels and labels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED_MNIST_DIR, write_idx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from purenet.data import IDX_NAMES, Dataset, Split, load, read_csv

N_TRAIN, N_TEST = 300, 100


@pytest.fixture(scope="module")
def small(mnist) -> Dataset:
    """The first few hundred training and test images of MNIST."""
    return Dataset(train=mnist.train.take(slice(N_TRAIN)), test=mnist.test.take(slice(N_TEST)))


def assert_same(got: Split, want: Split) -> None:
    assert got.images.dtype == np.uint8
    np.testing.assert_array_equal(got.images, want.images)
    np.testing.assert_array_equal(got.labels, want.labels)


def write_idx_folder(folder: Path, data: Dataset, naming: int = 0, gz: bool = True, shape=(28, 28)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    parts = {
        "train_images": data.train.images.reshape(-1, *shape),
        "train_labels": data.train.labels,
        "test_images": data.test.images.reshape(-1, *shape),
        "test_labels": data.test.labels,
    }
    for key, array in parts.items():
        write_idx(folder / (IDX_NAMES[key][naming] + (".gz" if gz else "")), array)
    return folder


def csv_text(split: Split, header: bool = False, newline: str = "\n") -> str:
    rows = np.column_stack([split.labels, split.images]).astype(int)
    lines = [",".join(map(str, row)) for row in rows]
    if header:
        lines.insert(0, ",".join(["label"] + [f"pixel{i}" for i in range(split.images.shape[1])]))
    return newline.join(lines) + newline


# ----------------------------------------------------------------- the committed MNIST


def test_loaded_arrays_are_read_only(mnist):
    with pytest.raises(ValueError):
        mnist.train.images[0, 0] = 1
    with pytest.raises(ValueError):
        mnist.test.labels[0] = 1


@pytest.mark.skipif(not SHARED_MNIST_DIR.is_dir(), reason="no ../shared/data/mnist beside the checkout")
def test_shared_copy_holds_the_same_data_as_the_committed_one(mnist):
    # the two folders' .gz bytes differ; their content must not
    assert load(SHARED_MNIST_DIR) == mnist


# ----------------------------------------------------------------- IDX


@pytest.mark.parametrize("gz", [True, False], ids=["gz", "raw"])
@pytest.mark.parametrize("naming", [0, 1], ids=["dash-idx", "dot-idx"])
def test_idx_folder_under_either_naming_gzipped_or_raw(tmp_path, small, naming, gz):
    data = load(write_idx_folder(tmp_path, small, naming=naming, gz=gz))
    assert_same(data.train, small.train)
    assert_same(data.test, small.test)


def crop(images: np.ndarray) -> np.ndarray:
    """(N, 784) -> the middle 20 rows by 12 columns of each 28x28 image, flattened (N, 240)."""
    return images.reshape(-1, 28, 28)[:, 2:22, 4:16].reshape(-1, 240)


def test_idx_images_of_another_size_are_flattened(tmp_path, small):
    cropped = Dataset(
        train=Split(images=crop(small.train.images), labels=small.train.labels),
        test=Split(images=crop(small.test.images), labels=small.test.labels),
    )
    data = load(write_idx_folder(tmp_path, cropped, shape=(20, 12)))
    assert data.train.images.shape == (N_TRAIN, 240)
    assert_same(data.train, cropped.train)


def test_path_may_be_a_string(tmp_path, small):
    assert load(str(write_idx_folder(tmp_path, small))) == small


# ----------------------------------------------------------------- CSV


@pytest.mark.parametrize("header", [False, True], ids=["no-header", "header"])
@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["lf", "crlf"])
def test_csv_file(tmp_path, small, header, newline):
    path = tmp_path / "digits.csv"
    path.write_bytes(csv_text(small.train, header, newline).encode())
    data = load(path)
    assert data.test is None
    assert_same(data.train, small.train)


def test_csv_header_of_numbered_columns_is_recognised(tmp_path, small):
    split = small.train.take(slice(20))
    header = ",".join(["label"] + [str(i) for i in range(784)])
    path = tmp_path / "numbered.csv"
    path.write_text(header + "\n" + csv_text(split))
    assert_same(load(path).train, split)


def test_csv_folder_with_train_and_test(tmp_path, small):
    (tmp_path / "mnist_train.csv").write_text(csv_text(small.train))
    (tmp_path / "mnist_test.csv").write_text(csv_text(small.test, header=True))
    data = load(tmp_path)
    assert_same(data.train, small.train)
    assert_same(data.test, small.test)


def test_csv_folder_without_a_test_file_has_no_test_part(tmp_path, small):
    (tmp_path / "mnist_train.csv").write_text(csv_text(small.train))
    assert load(tmp_path).test is None


def test_csv_spanning_many_chunks_keeps_every_row(tmp_path, mnist):
    split = mnist.train.take(slice(2000))  # ~3 MB of text, read in many pieces
    path = tmp_path / "big.csv"
    path.write_text(csv_text(split))
    assert_same(read_csv(path), split)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    images=hnp.arrays(np.uint8, st.tuples(st.integers(1, 12), st.integers(1, 9))),
    data=st.data(),
    header=st.booleans(),
    newline=st.sampled_from(["\n", "\r\n"]),
)
def test_csv_round_trips_any_width(tmp_path, images, data, header, newline):
    labels = data.draw(hnp.arrays(np.uint8, len(images), elements=st.integers(0, 9)))
    split = Split(images=images, labels=labels)
    path = tmp_path / "any.csv"
    path.write_bytes(csv_text(split, header, newline).encode())
    assert_same(read_csv(path), split)


# ----------------------------------------------------------------- .npz


def test_npz_in_the_keras_layout(tmp_path, small):
    path = tmp_path / "mnist.npz"
    np.savez(
        path,
        x_train=small.train.images.reshape(-1, 28, 28),
        y_train=small.train.labels,
        x_test=small.test.images.reshape(-1, 28, 28),
        y_test=small.test.labels,
    )
    assert load(path) == small


def one_hot(labels: np.ndarray) -> np.ndarray:
    return np.eye(10)[labels].reshape(-1, 10, 1)


def test_npz_in_the_old_scripts_layout_of_floats_and_one_hot_labels(tmp_path, small):
    path = tmp_path / "old.npz"
    # up to 0.4 of a grey level off, as a script's float arithmetic may leave it: rounding recovers it
    jitter = np.random.default_rng(0).uniform(-0.4, 0.4, small.train.images.shape)
    floats = np.clip((small.train.images + jitter) / 255, 0, 1)
    np.savez_compressed(
        path,
        training_images=floats.reshape(-1, 784, 1),
        training_labels=one_hot(small.train.labels),
        test_images=(small.test.images / 255).astype(np.float32).reshape(-1, 784, 1),
        test_labels=one_hot(small.test.labels),
    )
    data = load(path)
    assert data.train.images.dtype == np.uint8
    assert_same(data.train, small.train)
    assert_same(data.test, small.test)


def test_npz_in_the_plain_layout_of_other_sized_images(tmp_path, small):
    images = small.train.images.reshape(-1, 28, 28)[:, :14, :]
    path = tmp_path / "plain.npz"
    np.savez(path, images=images, labels=small.train.labels.astype(np.int64))
    data = load(path)
    assert data.test is None
    assert data.train.images.shape == (N_TRAIN, 14 * 28)
    np.testing.assert_array_equal(data.train.images, images.reshape(N_TRAIN, -1))
    np.testing.assert_array_equal(data.train.labels, small.train.labels)


# ----------------------------------------------------------------- class folders of images


def save_images(root: Path, split: Split, suffix: str = ".png") -> None:
    for index, (pixels, label) in enumerate(zip(split.images, split.labels)):
        folder = root / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels.reshape(28, 28)).save(folder / f"{index:05d}{suffix}")


def by_class(split: Split) -> Split:
    """The order load gives: by label, then by file name (here, the original order)."""
    return split.take(np.argsort(split.labels, kind="stable"))


def test_class_folders_directly(tmp_path, small):
    save_images(tmp_path, small.train)
    (tmp_path / "3" / ".DS_Store").write_bytes(b"\0junk")  # hidden files are skipped
    data = load(tmp_path)
    assert data.test is None
    assert_same(data.train, by_class(small.train))


def test_class_folders_under_train_and_test(tmp_path, small):
    save_images(tmp_path / "train", small.train)
    save_images(tmp_path / "test", small.test)
    data = load(tmp_path)
    assert_same(data.train, by_class(small.train))
    assert_same(data.test, by_class(small.test))


def test_kaggle_layout_with_an_unlabelled_test_set(tmp_path, small):
    save_images(tmp_path / "trainingSet" / "trainingSet", small.train.take(slice(50)), suffix=".jpg")
    (tmp_path / "testSet").mkdir()
    Image.fromarray(small.test.images[0].reshape(28, 28)).save(tmp_path / "testSet" / "img_1.jpg")
    data = load(tmp_path)
    assert data.test is None  # Kaggle's test images carry no labels
    want = by_class(small.train.take(slice(50)))
    np.testing.assert_array_equal(data.train.labels, want.labels)
    # JPEG is lossy: the pixels come back close, not equal
    error = np.abs(data.train.images.astype(int) - want.images.astype(int))
    assert error.mean() < 3


def test_colour_images_of_any_size_become_28x28_grey(tmp_path):
    (tmp_path / "7").mkdir(parents=True)
    Image.new("RGB", (90, 60), (255, 0, 0)).save(tmp_path / "7" / "a_red.png")
    Image.new("RGBA", (10, 10), (0, 0, 255, 255)).save(tmp_path / "7" / "b_blue.png")
    data = load(tmp_path)
    assert data.train.images.shape == (2, 784)
    np.testing.assert_array_equal(data.train.images[0], np.full(784, 76))  # L = 0.299 R + 0.587 G + 0.114 B
    np.testing.assert_array_equal(data.train.images[1], np.full(784, 29))


def test_exif_orientation_is_applied(tmp_path):
    pixels = np.zeros((28, 28), dtype=np.uint8)
    pixels[:, :14] = 255  # white on the left as stored
    exif = Image.Exif()
    exif[0x0112] = 3  # "rotate 180 degrees to display"
    (tmp_path / "1").mkdir()
    Image.fromarray(pixels).save(tmp_path / "1" / "rotated.png", exif=exif)
    shown = load(tmp_path).train.images[0].reshape(28, 28)
    np.testing.assert_array_equal(shown, pixels[::-1, ::-1])
