"""``purenet.data.load`` reads every supported format to the same uint8 arrays.

Each test writes a small copy of MNIST (a few hundred images, taken from the
committed data) in another format under ``tmp_path`` and checks that loading it
gives back exactly those pixels and labels.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import write_idx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from purenet.data import IDX_NAMES, DataError, Dataset, Split, load, read_csv

N_TRAIN, N_TEST = 300, 100


@pytest.fixture(scope="module")
def small(mnist) -> Dataset:
    """The first few hundred training and test images of MNIST."""
    return Dataset(train=mnist.train.take(slice(N_TRAIN)), test=mnist.test.take(slice(N_TEST)))


def assert_same(got: Split, want: Split) -> None:
    assert got.images.dtype == np.uint8 and got.labels.dtype == np.uint8
    np.testing.assert_array_equal(got.images, want.images)
    np.testing.assert_array_equal(got.labels, want.labels)


def many_labels(n: int, top: int = 255) -> np.ndarray:
    """Labels 0..top (EMNIST has up to 62 classes), all of 0 and ``top`` among them."""
    labels = np.arange(n) % (top + 1)
    labels[-1] = top
    return labels.astype(np.uint8)


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
    assert data.train.image_shape == (20, 12)
    assert_same(data.train, cropped.train)


def test_idx_gives_the_image_shape(tmp_path, small):
    data = load(write_idx_folder(tmp_path, small))
    assert data.train.image_shape == data.test.image_shape == (28, 28)


def test_idx_labels_may_be_any_byte(tmp_path, small):
    relabelled = Dataset(
        train=Split(images=small.train.images, labels=many_labels(N_TRAIN)),
        test=Split(images=small.test.images, labels=many_labels(N_TEST, 46)),  # EMNIST balanced: 47 classes
    )
    data = load(write_idx_folder(tmp_path, relabelled))
    assert_same(data.train, relabelled.train)
    assert_same(data.test, relabelled.test)


def test_a_multi_member_gzip_idx_is_counted_then_read(tmp_path, small):
    import gzip

    folder = write_idx_folder(tmp_path, small)
    file = folder / "train-images-idx3-ubyte.gz"
    raw = gzip.decompress(file.read_bytes())
    file.write_bytes(gzip.compress(raw[:1000]) + gzip.compress(raw[1000:]))  # its ISIZE is the last member's
    assert_same(load(folder).train, small.train)


def test_path_may_be_a_string(tmp_path, small):
    assert load(str(write_idx_folder(tmp_path, small))) == small


# ----------------------------------------------------------------- CSV


@pytest.mark.parametrize("header", [False, True], ids=["no-header", "header"])
@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["lf", "crlf"])
def test_csv_file(tmp_path, small, header, newline):
    path = tmp_path / "digits.csv"
    path.write_bytes(csv_text(small.train, header, newline).encode())
    data = load(path)
    assert not data.has_test
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
    assert not load(tmp_path).has_test


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
    labels = data.draw(hnp.arrays(np.uint8, len(images), elements=st.integers(0, 255)))
    split = Split(images=images, labels=labels)
    path = tmp_path / "any.csv"
    path.write_bytes(csv_text(split, header, newline).encode())
    assert_same(read_csv(path), split)


@pytest.mark.parametrize("header", [False, True], ids=["no-header", "header"])
def test_csv_with_a_utf8_byte_order_mark(tmp_path, small, header):
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbf" + csv_text(small.train, header, "\r\n").encode())
    assert_same(load(path).train, small.train)


@pytest.mark.parametrize("pixels, shape", [(784, (28, 28)), (100, (10, 10)), (240, None)])
def test_csv_image_shape_is_square_or_unknown(tmp_path, small, pixels, shape):
    split = Split(images=small.train.images[:, :pixels], labels=small.train.labels)
    path = tmp_path / "digits.csv"
    path.write_text(csv_text(split, header=True))
    assert read_csv(path).image_shape == shape


def test_csv_labels_may_be_any_byte(tmp_path, small):
    split = Split(images=small.train.images, labels=many_labels(N_TRAIN))
    path = tmp_path / "emnist.csv"  # like Kaggle's emnist-*.csv: no header, labels up to 61
    path.write_text(csv_text(split))
    assert_same(load(path).train, split)


def test_csv_of_kaggle_and_pjreddie_headers(tmp_path, small):
    split = small.train.take(slice(20))
    rows = csv_text(split)
    for header in ["label," + ",".join(f"pixel{i + 1}" for i in range(784)),  # Fashion-MNIST on Kaggle
                   "label," + ",".join(f"{r}x{c}" for r in range(1, 29) for c in range(1, 29))]:  # mnist_train.csv
        path = tmp_path / "digits.csv"
        path.write_text(header + "\n" + rows)
        assert_same(load(path).train, split)


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
    assert not data.has_test
    assert data.train.images.shape == (N_TRAIN, 14 * 28)
    np.testing.assert_array_equal(data.train.images, images.reshape(N_TRAIN, -1))
    np.testing.assert_array_equal(data.train.labels, small.train.labels)


@pytest.mark.parametrize(
    "shape, image_shape",
    [((28, 28), (28, 28)), ((28, 28, 1), (28, 28)), ((1, 28, 28), (28, 28)), ((784,), (28, 28)), ((784, 1), (28, 28))],
    ids=["NHW", "NHW1", "N1HW", "ND", "ND1"],
)
def test_npz_image_layouts(tmp_path, small, shape, image_shape):
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=small.train.images.reshape(-1, *shape), y_train=small.train.labels)
    data = load(path)
    assert data.train.image_shape == image_shape
    assert_same(data.train, small.train)


def test_npz_flat_images_of_a_non_square_size_have_no_shape(tmp_path, small):
    path = tmp_path / "mnist.npz"
    np.savez(path, images=small.train.images[:, :700], labels=small.train.labels)
    assert load(path).train.image_shape is None


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_npz_float_pixels_in_0_to_255_are_rounded(tmp_path, small, dtype):
    path = tmp_path / "mnist.npz"
    jitter = np.random.default_rng(1).uniform(-0.4, 0.4, small.train.images.shape)
    floats = np.clip(small.train.images + jitter, 0, 255).astype(dtype)
    np.savez(path, images=floats, labels=small.train.labels)
    assert_same(load(path).train, small.train)


def test_npz_integer_pixels_of_any_integer_type(tmp_path, small):
    for dtype in (np.int8, np.int16, np.uint16, np.int64, ">i4"):
        path = tmp_path / "mnist.npz"
        images = small.train.images.astype(np.int16)
        images = images // 2 if np.dtype(dtype) == np.int8 else images  # int8 holds 0-127 only
        np.savez(path, images=images.astype(dtype), labels=small.train.labels)
        np.testing.assert_array_equal(load(path).train.images, images)


def test_npz_labels_may_be_any_byte_in_any_number_type(tmp_path, small):
    labels = many_labels(N_TRAIN)
    for stored in (labels, labels.astype(np.int64), labels.astype(np.float32), labels.reshape(-1, 1)):
        path = tmp_path / "mnist.npz"
        np.savez(path, images=small.train.images, labels=stored)
        assert_same(load(path).train, Split(images=small.train.images, labels=labels))


def test_npz_one_hot_labels_of_47_classes(tmp_path, small):
    labels = many_labels(N_TRAIN, 46)
    path = tmp_path / "emnist.npz"
    np.savez_compressed(path, images=small.train.images, labels=np.eye(47, dtype=np.float32)[labels])
    np.testing.assert_array_equal(load(path).train.labels, labels)


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
    assert not data.has_test
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
    assert not data.has_test  # Kaggle's test images carry no labels
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


def test_class_folders_give_the_image_shape_and_any_label(tmp_path, small):
    split = Split(images=small.train.images[:12], labels=np.array([0, 9, 10, 25, 46, 61, 255, 3, 3, 10, 61, 0], np.uint8))
    save_images(tmp_path, split)
    data = load(tmp_path)
    assert data.train.image_shape == (28, 28)
    assert_same(data.train, by_class(split))


def save_as(folder: Path, image: Image.Image, name: str, **options) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    image.save(folder / name, **options)


def test_images_of_any_mode_and_depth_are_read(tmp_path):
    folder = tmp_path / "5"
    save_as(folder, Image.fromarray(np.full((30, 20), 257 * 100, dtype=np.uint16)), "a_16bit.png")  # mode I;16
    save_as(folder, Image.fromarray(np.full((10, 10), 40000, dtype=np.int32)), "b_int32.tif")  # mode I
    save_as(folder, Image.fromarray(np.full((10, 10), 0.5, dtype=np.float32)), "c_float.tif")  # mode F
    palette = Image.new("P", (10, 10), 1)
    palette.putpalette([0, 0, 0, 200, 200, 200] + [0, 0, 0] * 254)
    save_as(folder, palette, "d_palette.png", transparency=b"\xff\x00")  # transparency as bytes: Pillow warns
    save_as(folder, Image.new("RGBA", (10, 10), (255, 255, 255, 0)), "e_rgba.png")
    save_as(folder, Image.new("CMYK", (40, 30), (0, 0, 0, 200)), "f_cmyk.jpg")
    save_as(folder, Image.new("LA", (10, 10), (90, 0)), "g_la.png")
    save_as(folder, Image.new("1", (10, 10), 1), "h_bilevel.png")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        images = load(tmp_path).train.images
    assert not seen, [str(w.message) for w in seen]  # the library never prints, warnings included
    means = images.mean(axis=1).round()
    np.testing.assert_array_equal(means, [100, 156, 128, 200, 255, 55, 90, 255])


def test_pillow_warnings_are_not_shown(tmp_path, small, monkeypatch):
    save_images(tmp_path, small.train.take(slice(5)))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 500)  # 784 pixels: a DecompressionBombWarning, not an error
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        data = load(tmp_path)
    assert len(data.train) == 5 and not seen


def test_hidden_files_and_subfolders_in_class_folders_are_skipped(tmp_path, small):
    split = small.train.take(slice(10))
    save_images(tmp_path, split)
    folder = tmp_path / str(split.labels[0])
    (folder / "._0001.png").write_bytes(b"\0macOS resource fork")
    (folder / "thumbnails").mkdir()
    (folder / "thumbnails" / "notes.txt").write_text("not read")
    assert_same(load(tmp_path).train, by_class(split))


def test_large_images_are_read(tmp_path):
    save_as(tmp_path / "1", Image.new("L", (3000, 2000), 77), "scan.png")
    np.testing.assert_array_equal(load(tmp_path).train.images, np.full((1, 784), 77))


def test_a_data_set_without_a_test_part_says_so_when_asked_for_it(mnist):
    """``test`` is a Split for type checkers (``load(path).test.images``); reading a missing one is a DataError."""
    train = mnist.train.take(slice(10))
    alone, both = Dataset(train=train), Dataset(train, test=train)
    assert not alone.has_test and both.has_test
    assert both.test is train
    with pytest.raises(DataError, match="no test part"):
        alone.test  # noqa: B018 - reading it raises
    assert alone == Dataset(train, None) and alone != both
