"""Tests for purenet.photo.prepare: photos of handwritten digits -> MNIST-style 28x28 digits.

The photos are made here from MNIST test digits, the way a person's photo of a digit
looks: dark ink on light (white, grey or coloured) paper, ten times larger, off-centre
on a bigger sheet, with thick strokes, blur, uneven light and JPEG compression. A
small network trained on MNIST must read them about as well as MNIST itself.
"""

from __future__ import annotations

import inspect
import io
import os
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import PEAK_RESIDENT, fail_if_blocked, has_peak_resident
from PIL import Image, ImageDraw, ImageFilter, ImageOps

from purenet import Adam, init, predict, train
from purenet.base.mnist import BOX
from purenet.photo import prepare as image
from purenet.photo.prepare import ImageError, ImageWarning, load_digit_image, preprocess, read_digit_image

PAPERS = [  # (paper, ink) colours
    ((245, 245, 240), (20, 20, 25)),  # white paper, black pen
    ((190, 190, 185), (40, 40, 45)),  # grey paper (a dim photo)
    ((240, 225, 170), (30, 40, 150)),  # yellow paper, blue ink
    ((215, 230, 245), (150, 30, 30)),  # blue paper, red ink
    ((230, 230, 230), (110, 110, 110)),  # pencil on white
]


def photo(digit: np.ndarray, rng: np.random.Generator, *, paper=PAPERS[0], scale: int = 10,
          thicken: int = 9, blur: float = 2.0, light: bool = False) -> Image.Image:
    """A photo-like RGB picture of a (28, 28) uint8 MNIST digit, as a PIL image.

    The digit is enlarged ``scale`` times, its strokes thickened by a max filter of size
    ``thicken``, set at a random place on a sheet 1.5 times larger, coloured ``paper``
    = (paper colour, ink colour), blurred, optionally lit unevenly (``light``: a
    gradient from 100% to 45% brightness across the sheet).
    """
    side = 28 * scale
    ink = Image.fromarray(digit).resize((side, side), Image.Resampling.BICUBIC)
    if thicken:
        ink = ink.filter(ImageFilter.MaxFilter(thicken))
    sheet = Image.new("L", (side * 3 // 2, side * 3 // 2 + 40), 0)
    sheet.paste(ink, tuple(int(v) for v in rng.integers(0, side // 2, size=2)))
    amount = np.asarray(sheet.filter(ImageFilter.GaussianBlur(blur)), np.float32)[..., None] / 255
    pixels = np.array(paper[0], np.float32) * (1 - amount) + np.array(paper[1], np.float32) * amount
    if light:
        pixels *= np.linspace(1.0, 0.45, pixels.shape[1], dtype=np.float32)[None, :, None]
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def as_jpeg(image: Image.Image, **options) -> Image.Image:
    """``image`` after a round trip through JPEG (quality 85), reopened."""
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85, **options)
    buffer.seek(0)
    return Image.open(buffer)


def centre_of_mass(image: np.ndarray) -> np.ndarray:
    """(row, column) centre of mass of each (..., 28, 28) image."""
    image = image.astype(np.float64)
    total = image.sum(axis=(-2, -1))
    rows = (image.sum(axis=-1) * np.arange(28)).sum(axis=-1) / total
    cols = (image.sum(axis=-2) * np.arange(28)).sum(axis=-1) / total
    return np.stack([rows, cols], axis=-1)


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two images' pixels: 1 for the same picture."""
    return float(np.corrcoef(a.astype(np.float64).ravel(), b.astype(np.float64).ravel())[0, 1])


def similarity_up_to_a_pixel(a: np.ndarray, b: np.ndarray) -> float:
    """The best ``similarity`` of ``a`` and ``b`` shifted by at most one pixel each way."""
    return max(similarity(np.roll(a, (dy, dx), axis=(0, 1)), b) for dy in (-1, 0, 1) for dx in (-1, 0, 1))


def bounding_box(image: np.ndarray) -> tuple[int, int]:
    """Height and width of the box around the non-zero pixels."""
    rows, cols = np.nonzero(image)
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


@pytest.fixture(scope="module")
def model(mnist):
    """784-256-10 ReLU trained with Adam for 5 epochs on all of MNIST's training set."""
    params = init([784, 256, 10], act="relu", rng=np.random.default_rng(0))
    for record in train(params, mnist.train, optimizer=Adam(1e-3), epochs=5, batch_size=128,
                        rng=np.random.default_rng(0)):
        params = record.params
    return params


@pytest.fixture(scope="module")
def digits(mnist):
    """200 MNIST test digits (28, 28) uint8 and their labels, drawn at random."""
    index = np.random.default_rng(7).choice(len(mnist.test), 200, replace=False)
    return mnist.test.images[index].reshape(-1, 28, 28), mnist.test.labels[index]


@pytest.fixture(scope="module")
def seven(digits):
    """One MNIST 7 (asymmetric, so rotations and flips show)."""
    images, labels = digits
    return images[np.flatnonzero(labels == 7)[0]]


def read(params, images: list[np.ndarray]) -> np.ndarray:
    return predict(params, np.stack(images).reshape(len(images), 784).astype(np.float32) / 255).argmax(axis=1)


# --- the pipeline reads top to bottom -----------------------------------------------------------


def test_the_steps_are_defined_and_called_in_the_order_the_docstring_lists_them():
    """The docstring lists the ten steps as ``module.function``; the modules, taken in that
    order, define them in that order, each just below its own constants (the block
    headed by the step's number), and ``preprocess`` calls them in that order."""
    listed = re.findall(r"^(\d+)\. ``(\w+)\.(\w+)``", image.__doc__, re.MULTILINE)
    assert [int(number) for number, _, _ in listed] == list(range(1, 11))
    modules = list(dict.fromkeys(module for _, module, _ in listed))
    sources = "".join(inspect.getsource(getattr(image, module)) for module in modules)
    assert all(callable(getattr(getattr(image, module), name)) for _, module, name in listed)
    at = [sources.index(f"\ndef {name}(") for _, _, name in listed]
    assert at == sorted(at)
    for number, _, name in listed:  # the step's block, then its constants, then the step itself
        block = sources.index(f"\n# {number}. ")
        assert block < sources.index(f"\ndef {name}(") and "\ndef " not in sources[block:sources.index(f"\ndef {name}(")]
    pipeline = inspect.getsource(preprocess)
    calls = [pipeline.index(f" {module}.{name}(") for _, module, name in listed]
    assert calls == sorted(calls)


# --- a network reads photos made from MNIST digits ----------------------------------------


@pytest.mark.slow
def test_a_model_trained_on_mnist_reads_200_photos_of_mnist_digits(model, digits):
    images, labels = digits
    rng = np.random.default_rng(0)
    prepared = []
    for i, digit in enumerate(images):
        kind = i % 8
        if kind < 5:  # white, grey and coloured paper, pencil
            picture = as_jpeg(photo(digit, rng, paper=PAPERS[kind]))
        elif kind == 5:  # uneven lighting
            picture = as_jpeg(photo(digit, rng, light=True))
        elif kind == 6:  # a transparent PNG: black strokes, clear background
            picture = Image.fromarray(np.dstack([np.zeros((28, 28, 3), np.uint8), digit])).resize((280, 280))
        else:  # thin strokes, little blur, a large sheet
            picture = as_jpeg(photo(digit, rng, scale=14, thicken=0, blur=1.0))
        prepared.append(preprocess(picture))
    accuracy = float(np.mean(read(model, prepared) == labels))
    on_mnist = float(np.mean(read(model, list(images)) == labels))  # the same digits, as MNIST has them
    assert accuracy >= 0.95 and accuracy >= on_mnist - 0.03, (accuracy, on_mnist)


# --- what MNIST's digits look like ------------------------------------------------------


@pytest.fixture(scope="module")
def prepared(digits):
    """The first 40 digits photographed (white paper, JPEG) and preprocessed."""
    rng = np.random.default_rng(1)
    return np.stack([preprocess(as_jpeg(photo(d, rng))) for d in digits[0][:40]])


@pytest.mark.slow
def test_output_is_a_28x28_uint8_image_from_0_to_255(prepared):
    assert prepared.shape == (40, 28, 28) and prepared.dtype == np.uint8
    assert (prepared.min(axis=(1, 2)) == 0).all() and (prepared.max(axis=(1, 2)) == 255).all()


@pytest.mark.slow  # its fixture prepares 40 photo-like images, as the other slow tests here
def test_centre_of_mass_is_where_mnist_puts_it(prepared, mnist):
    # MNIST's own convention, measured: the mean centre of mass of its digits
    mnist_centre = centre_of_mass(mnist.test.images[:2000].reshape(-1, 28, 28)).mean(axis=0)
    assert np.abs(mnist_centre - 13.5).max() < 1  # (14, 14): pixel indices, not the field's middle 13.5
    offsets = centre_of_mass(prepared) - mnist_centre
    assert np.abs(offsets).max() <= 0.75  # a shift by whole pixels, as MNIST's, leaves at most half a pixel


@pytest.mark.slow  # its fixture prepares 40 photo-like images, as the other slow tests here
def test_digit_fits_the_20x20_box_and_fills_it(prepared, mnist):
    boxes = np.array([bounding_box(image) for image in prepared])
    assert boxes.max() <= BOX
    assert (boxes.max(axis=1) >= BOX - 1).all()  # the long side is scaled to the box
    mnist_boxes = np.array([bounding_box(image) for image in mnist.test.images[:200].reshape(-1, 28, 28)])
    assert mnist_boxes.max() == BOX  # the box MNIST's digits fit


@pytest.mark.slow
def test_ink_mass_and_stroke_width_are_like_mnists(digits):
    originals = digits[0][:40]
    rng = np.random.default_rng(1)
    prepared = np.stack([preprocess(as_jpeg(photo(d, rng, thicken=0))) for d in originals])

    def stats(images):
        mass = images.astype(np.float64).sum(axis=(1, 2)) / 255
        ink = images >= 128
        edges = (ink[:, 1:] != ink[:, :-1]).sum(axis=(1, 2)) + (ink[:, :, 1:] != ink[:, :, :-1]).sum(axis=(1, 2))
        return np.median(mass), np.median(2 * ink.sum(axis=(1, 2)) / edges)

    ours, theirs = stats(prepared), stats(originals)  # the photos' digits, and the same digits in MNIST
    assert abs(ours[0] / theirs[0] - 1) < 0.2, (ours, theirs)
    assert abs(ours[1] / theirs[1] - 1) < 0.2, (ours, theirs)


@pytest.mark.slow
def test_a_mnist_digit_itself_comes_back_nearly_unchanged(digits):
    images, _ = digits
    same = [similarity(preprocess(Image.fromarray(d)), d) for d in images[:30]]
    assert np.median(same) > 0.9, same


# --- what real photos get wrong -------------------------------------------------------------


def test_light_ink_on_dark_gives_the_same_digit_as_dark_on_light(seven):
    rng = np.random.default_rng(2)
    dark_on_light = photo(seven, rng)
    light_on_dark = Image.fromarray(255 - np.asarray(dark_on_light))
    assert similarity(preprocess(dark_on_light), preprocess(light_on_dark)) > 0.95


@pytest.mark.parametrize("paper", PAPERS[1:], ids=["grey", "yellow-blue", "blue-red", "pencil"])
def test_paper_and_ink_colour_do_not_matter(seven, paper):
    white = preprocess(photo(seven, np.random.default_rng(3)))
    coloured = preprocess(as_jpeg(photo(seven, np.random.default_rng(3), paper=paper)))
    assert similarity(white, coloured) > 0.9


def test_uneven_lighting_and_a_shadow_do_not_matter(seven):
    even = preprocess(photo(seven, np.random.default_rng(4)))
    shaded = photo(seven, np.random.default_rng(4), light=True)
    pixels = np.asarray(shaded, np.float32)
    rows, cols = np.mgrid[: pixels.shape[0], : pixels.shape[1]]
    shadow = 1 - 0.4 * np.exp(-(((rows - 60) / 120.0) ** 2 + ((cols - 300) / 120.0) ** 2))
    shaded = Image.fromarray((pixels * shadow[..., None]).astype(np.uint8))
    assert similarity(even, preprocess(as_jpeg(shaded))) > 0.9


def test_exif_rotation_is_applied(seven, tmp_path):
    upright = photo(seven, np.random.default_rng(5))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display": the camera was held sideways
    upright.transpose(Image.Transpose.ROTATE_90).save(tmp_path / "sideways.jpg", exif=exif.tobytes())
    upright.transpose(Image.Transpose.ROTATE_90).save(tmp_path / "no-tag.jpg")
    expected = preprocess(upright)
    assert similarity(load_digit_image(tmp_path / "sideways.jpg"), expected) > 0.9
    assert similarity(load_digit_image(tmp_path / "no-tag.jpg"), expected) < 0.7  # the tag made the difference


@pytest.mark.parametrize("stroke", [0, 255], ids=["black-strokes", "white-strokes"])
def test_transparent_background_png(seven, stroke, tmp_path):
    rgba = np.zeros((280, 280, 4), np.uint8)
    rgba[..., :3] = stroke
    rgba[..., 3] = np.asarray(Image.fromarray(seven).resize((280, 280), Image.Resampling.BICUBIC))
    Image.fromarray(rgba, "RGBA").save(tmp_path / "drawn.png")
    expected = preprocess(Image.fromarray(seven).resize((280, 280), Image.Resampling.BICUBIC))
    assert similarity(load_digit_image(tmp_path / "drawn.png"), expected) > 0.95


def test_thin_strokes_on_a_large_canvas_stay_visible():
    canvas = Image.new("L", (1600, 1200), 255)
    ImageDraw.Draw(canvas).line([(600, 300), (1000, 300), (700, 900)], fill=0, width=2)  # a 7, 2 px wide
    digit = preprocess(canvas)
    strokes = digit >= 128
    width = 2 * strokes.sum() / ((strokes[1:] != strokes[:-1]).sum() + (strokes[:, 1:] != strokes[:, :-1]).sum())
    assert 1.5 < width < 4  # MNIST's strokes are 2-3 px wide; 2 px in 1600 would be 0.035 px
    assert max(bounding_box(digit)) == BOX


def test_very_thick_strokes_keep_their_holes():
    canvas = Image.new("L", (300, 300), 255)
    ImageDraw.Draw(canvas).ellipse([60, 30, 240, 270], outline=0, width=45)  # a marker 0
    digit = preprocess(canvas)
    assert digit[14, 14] < 64 < digit[14, 7]  # the hole stays open, the ring is ink


def test_noise_specks_far_from_the_digit_are_ignored(seven):
    digit = photo(seven, np.random.default_rng(6))
    clean = Image.new("RGB", (digit.width + 300, digit.height), PAPERS[0][0])
    clean.paste(digit, (0, 0))
    specked = clean.copy()
    draw = ImageDraw.Draw(specked)
    for x, y in [(500, 80), (620, 150), (560, 260), (660, 330), (520, 380)]:  # clear of the edges
        draw.ellipse([x, y, x + 6, y + 6], fill=(0, 0, 0))
    assert similarity(preprocess(clean), preprocess(specked)) > 0.95


def test_ruled_lines_are_removed(seven):
    clean = photo(seven, np.random.default_rng(8), paper=PAPERS[4], blur=1.0)  # pencil
    lined = clean.copy()
    draw = ImageDraw.Draw(lined)
    for y in range(25, lined.height, 60):  # slightly slanted, and darker than the pencil
        draw.line([(0, y), (lined.width, y + 8)], fill=(40, 60, 150), width=3)
    assert similarity(preprocess(clean), preprocess(as_jpeg(lined))) > 0.9


def test_a_table_around_the_paper_and_a_frame_are_ignored(seven):
    paper = photo(seven, np.random.default_rng(9))
    on_table = Image.new("RGB", (paper.width + 120, paper.height + 100), (70, 55, 45))
    on_table.paste(paper, (80, 30))
    framed = paper.copy()
    ImageDraw.Draw(framed).rectangle([4, 4, paper.width - 5, paper.height - 5], outline=(0, 0, 0), width=4)
    expected = preprocess(paper)
    assert similarity(preprocess(as_jpeg(on_table)), expected) > 0.9
    assert similarity(preprocess(framed), expected) > 0.9


@pytest.mark.parametrize("label", [0, 7])
def test_a_tight_crop_that_cuts_the_digit_at_every_side(digits, label):
    images, labels = digits
    digit = images[np.flatnonzero(labels == label)[0]]
    picture = photo(digit, np.random.default_rng(15), thicken=0)  # (ink must stay the minority)
    rows, cols = np.nonzero(np.asarray(picture.convert("L")) < 128)
    cut_rows, cut_cols = (rows.max() - rows.min()) // 30, (cols.max() - cols.min()) // 30
    cropped = picture.crop((cols.min() + cut_cols, rows.min() + cut_rows, cols.max() - cut_cols, rows.max() - cut_rows))
    with_margin = ImageOps.expand(cropped, border=80, fill=PAPERS[0][0])  # the same strokes, not touching
    assert similarity_up_to_a_pixel(preprocess(as_jpeg(cropped)), preprocess(with_margin)) > 0.9


@pytest.mark.parametrize("mode", ["L", "P", "LA", "I;16", "CMYK", "1"])
def test_other_image_modes(seven, mode):
    picture = photo(seven, np.random.default_rng(10))
    expected = preprocess(picture)
    if mode == "I;16":
        converted = Image.fromarray(np.asarray(picture.convert("L")).astype(np.uint16) * 257)
    else:
        converted = picture.convert(mode)
    assert similarity(preprocess(converted), expected) > 0.9


def test_preprocess_leaves_its_input_alone(seven):
    picture = photo(seven, np.random.default_rng(11))
    before = picture.tobytes()
    preprocess(picture)
    assert picture.tobytes() == before


def test_a_large_phone_jpeg_reads_like_its_small_original(seven, tmp_path):
    """A 4000x3000 JPEG is decoded at reduced size and shrunk early (its speed is
    reported by benchmarks/photos.py, not asserted here); the digit must not suffer."""
    picture = ImageOps.pad(photo(seven, np.random.default_rng(12)), (400, 300), color=PAPERS[0][0])
    picture.resize((4000, 3000), Image.Resampling.BICUBIC).save(tmp_path / "phone.jpg", quality=90)
    assert similarity(load_digit_image(tmp_path / "phone.jpg"), preprocess(picture)) > 0.9


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize("colour", [255, 0, 128], ids=["white", "black", "grey"])
def test_a_blank_image_raises(colour):
    with pytest.raises(ImageError, match="no digit"):
        preprocess(Image.new("RGB", (300, 200), (colour,) * 3))


def test_blank_paper_with_camera_noise_and_uneven_light_raises():
    rng = np.random.default_rng(13)
    light = np.linspace(230, 150, 400, dtype=np.float32)[None, :, None]
    pixels = light + rng.normal(0, 4, (300, 400, 3)).astype(np.float32)
    with pytest.raises(ImageError, match="no digit"):
        preprocess(as_jpeg(Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))))


def test_a_fully_transparent_png_raises(tmp_path):
    Image.new("RGBA", (100, 100), (0, 0, 0, 0)).save(tmp_path / "clear.png")
    with pytest.raises(ImageError, match=r"clear\.png.*transparent"):
        load_digit_image(tmp_path / "clear.png")


def test_a_blank_file_raises_naming_it(tmp_path):
    Image.new("L", (50, 50), 255).save(tmp_path / "blank.png")
    with pytest.raises(ImageError, match=r"blank\.png: no digit"):
        load_digit_image(tmp_path / "blank.png")


def test_a_file_that_is_not_an_image_raises_naming_it(tmp_path):
    (tmp_path / "notes.jpg").write_text("not a picture\n")
    with pytest.raises(ImageError, match=r"notes\.jpg: not an image"):
        load_digit_image(tmp_path / "notes.jpg")


@pytest.mark.parametrize("name", ["empty.png", "missing.png"])
def test_an_empty_or_missing_file_raises_naming_it(tmp_path, name):
    if name == "empty.png":
        (tmp_path / name).write_bytes(b"")
    with pytest.raises(ImageError, match=name.replace(".", r"\.")):
        load_digit_image(tmp_path / name)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_a_truncated_image_raises_naming_it(seven, tmp_path, fmt):
    buffer = io.BytesIO()
    photo(seven, np.random.default_rng(14)).save(buffer, fmt)
    path = tmp_path / f"cut.{fmt.lower()}"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(ImageError, match=rf"cut\.{fmt.lower()}: cannot decode"):
        load_digit_image(path)


def test_a_directory_raises_naming_it(tmp_path):
    with pytest.raises(ImageError, match=str(tmp_path).replace("\\", r"\\")):
        load_digit_image(Path(tmp_path))


# --- opening the file: only regular files, never blocking; warnings handed back ---------------


@pytest.fixture
def no_blocking():
    """Fail (instead of hanging the suite) if the test blocks for 30 s, e.g. opening a FIFO."""
    with fail_if_blocked(30):
        yield


def _fifo(tmp_path):
    os.mkfifo(tmp_path / "pipe.png")
    return tmp_path / "pipe.png", "is a named pipe (FIFO), not an image file"


def _socket(tmp_path, monkeypatch):
    import socket

    monkeypatch.chdir(tmp_path)  # a socket's path must be short
    server = socket.socket(socket.AF_UNIX)
    server.bind("sock.png")
    server.close()
    return Path("sock.png"), "is a socket, not an image file"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes (os.mkfifo), which exist on POSIX systems only")
@pytest.mark.parametrize("kind", ["fifo", "socket", "/dev/null", "/dev/zero", "directory"])
def test_what_is_not_a_regular_file_is_refused_without_being_read(tmp_path, monkeypatch, no_blocking, kind):
    if kind == "fifo":
        path, problem = _fifo(tmp_path)
    elif kind == "socket":
        path, problem = _socket(tmp_path, monkeypatch)
    elif kind == "directory":
        path, problem = tmp_path, "is a folder, not an image file"
    else:
        path, problem = Path(kind), "is a character device, not an image file"
    opened = []
    real_open = Image.open
    monkeypatch.setattr(Image, "open", lambda *args, **kwargs: opened.append(args) or real_open(*args, **kwargs))
    with pytest.raises(ImageError) as raised:
        load_digit_image(path)
    assert str(raised.value) == f"{path}: {problem}"
    assert opened == []


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes (os.mkfifo), which exist on POSIX systems only")
def test_a_file_replaced_by_a_fifo_after_the_check_does_not_block(tmp_path, monkeypatch, no_blocking):
    """Between os.stat and opening, a file can be swapped for a FIFO: the open must not wait for a writer."""
    path, _ = _fifo(tmp_path)
    (tmp_path / "regular.png").write_bytes(b"\x89PNG")
    real_stat = os.stat
    monkeypatch.setattr(os, "stat", lambda p, *args, **kwargs: (
        real_stat(tmp_path / "regular.png") if str(p) == str(path) else real_stat(p, *args, **kwargs)))
    with pytest.raises(ImageError, match=r"pipe\.png: is a named pipe"):
        load_digit_image(path)


def test_an_empty_file_says_it_is_empty(tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(ImageError) as raised:
        load_digit_image(tmp_path / "empty.jpg")
    assert str(raised.value) == f"{tmp_path / 'empty.jpg'}: the file is empty (0 bytes)"


def test_a_missing_file_and_a_broken_link(tmp_path):
    with pytest.raises(ImageError) as raised:
        load_digit_image(tmp_path / "missing.png")
    assert str(raised.value) == f"{tmp_path / 'missing.png'}: no such file"
    (tmp_path / "link.png").symlink_to(tmp_path / "missing.png")
    with pytest.raises(ImageError) as raised:
        load_digit_image(tmp_path / "link.png")
    assert str(raised.value) == f"{tmp_path / 'link.png'}: no such file (a symbolic link to a missing file)"


def test_a_decompression_bomb_raises_naming_it(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # Pillow refuses more than twice this
    Image.new("L", (50, 50), 255).save(tmp_path / "bomb.png")
    with pytest.raises(ImageError, match=r"bomb\.png: too large to decode safely \(Image size \(2500 pixels\) exceeds limit"):
        load_digit_image(tmp_path / "bomb.png")


def test_an_image_is_decoded_the_same_from_the_open_file(seven, tmp_path):
    """load_digit_image opens the file itself and hands Pillow the open file: the pixels must be
    those Pillow decodes from the path (JPEG draft mode included)."""
    picture = photo(seven, np.random.default_rng(16))
    picture.save(tmp_path / "seven.png")
    picture.resize((1200, 1300)).save(tmp_path / "seven.jpg", quality=85)
    with Image.open(tmp_path / "seven.png") as image:
        assert np.array_equal(load_digit_image(tmp_path / "seven.png"), preprocess(image))
    with Image.open(tmp_path / "seven.jpg") as image:
        image.draft(image.mode, (370, 400))  # what load_digit_image asks for: a long side of WORK_SIZE (400)
        assert np.array_equal(load_digit_image(tmp_path / "seven.jpg"), preprocess(ImageOps.exif_transpose(image)))


def _big_image_warning(tmp_path, monkeypatch, seven) -> Path:
    """A readable photo over Pillow's decompression-bomb warning size (lowered for the test)."""
    picture = photo(seven, np.random.default_rng(17))
    picture.save(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", picture.width * picture.height - 1)
    return tmp_path / "big.png"


def test_warnings_are_handed_back_as_lines_naming_the_file(seven, tmp_path, monkeypatch):
    path = _big_image_warning(tmp_path, monkeypatch, seven)
    warned = []
    with warnings.catch_warnings(record=True) as leaked:
        warnings.simplefilter("always")
        digit = load_digit_image(path, warned)
    assert digit.shape == (28, 28)
    assert leaked == []
    assert len(warned) == 1 and warned[0].startswith(f"{path}: Image size (") and "\n" not in warned[0]


def test_warnings_made_errors_do_not_stop_the_reading(seven, tmp_path, monkeypatch):
    path = _big_image_warning(tmp_path, monkeypatch, seven)
    warned = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # as PYTHONWARNINGS=error does
        load_digit_image(path, warned)
    assert len(warned) == 1


def test_without_a_list_the_warnings_are_image_warnings_naming_the_file(seven, tmp_path, monkeypatch):
    path = _big_image_warning(tmp_path, monkeypatch, seven)
    with pytest.warns(ImageWarning) as record:
        load_digit_image(path)
    assert [str(w.message).split(": ")[0] for w in record] == [str(path)]
    assert all(issubclass(w.category, ImageWarning) for w in record)


def test_an_image_that_cannot_be_read_gives_its_error_not_its_warnings(tmp_path, monkeypatch):
    Image.new("L", (60, 60), 255).save(tmp_path / "blank.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 3000)
    warned = []
    with warnings.catch_warnings(record=True) as leaked:
        warnings.simplefilter("always")
        with pytest.raises(ImageError, match=r"blank\.png: no digit"):
            load_digit_image(tmp_path / "blank.png", warned)
    assert warned == [] and leaked == []


# --- the same bytes, uploaded instead of saved ------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["PNG", "JPEG"])
def test_bytes_read_as_the_file_of_those_bytes(seven, tmp_path, kind):
    """An upload (``read_digit_image``) gets the very digit ``load_digit_image`` gets from a file of the same bytes
    (a photo large enough for the JPEG to be decoded at a reduced size, as files are)."""
    buffer = io.BytesIO()
    photo(seven, np.random.default_rng(3), scale=40, thicken=31, light=True).save(buffer, kind)
    (tmp_path / "seven").write_bytes(buffer.getvalue())
    assert np.array_equal(read_digit_image(buffer.getvalue()), load_digit_image(tmp_path / "seven"))


def test_the_names_of_0_1_still_read_and_warn_naming_the_new_ones(seven, tmp_path):
    """load_digit and read_digit return images, not digits: renamed, the old names kept for one release."""
    photo(seven, np.random.default_rng(5)).save(tmp_path / "seven.png")
    data = (tmp_path / "seven.png").read_bytes()
    for old, new, args in ((image.load_digit, load_digit_image, (tmp_path / "seven.png",)),
                           (image.read_digit, read_digit_image, (data, "upload"))):
        with pytest.warns(DeprecationWarning, match=f"^purenet.photo.prepare.{old.__name__} is now {new.__name__};") as caught:
            got = old(*args)
        assert caught[0].filename == __file__  # the warning points at the caller
        assert np.array_equal(got, new(*args))


def test_bytes_that_are_no_image_are_an_image_error_naming_the_upload(monkeypatch, seven):
    with pytest.raises(ImageError, match=r"^upload: the file is empty"):
        read_digit_image(b"", "upload")
    with pytest.raises(ImageError, match=r"^upload: not an image file"):
        read_digit_image(b"hello, world", "upload")
    buffer = io.BytesIO()
    Image.new("L", (60, 60), 255).save(buffer, "PNG")
    with pytest.raises(ImageError, match=r"^upload: no digit found"):
        read_digit_image(buffer.getvalue(), "upload")
    buffer = io.BytesIO()
    photo(seven, np.random.default_rng(17)).save(buffer, "PNG")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    warned = []
    with pytest.raises(ImageError, match=r"^upload: too large to decode safely"):
        read_digit_image(buffer.getvalue(), "upload", warned)


# --- images that declare more pixels than purenet decodes -------------------------------------------

MEASURE = PEAK_RESIDENT + """
import sys
from pathlib import Path
from purenet.photo.prepare import ImageError, load_digit_image, read_digit_image
data = Path(sys.argv[1]).read_bytes()
before = peak_resident_bytes()
for read in (lambda: load_digit_image(sys.argv[1]), lambda: read_digit_image(data, "upload")):
    try:
        read()
    except ImageError as error:
        print(error)
print((peak_resident_bytes() - before) // 1024)
"""


@pytest.mark.skipif(not has_peak_resident, reason="reads the peak resident size from /proc")
def test_an_image_declaring_too_many_pixels_is_refused_before_it_is_decoded(tmp_path):
    """A 164 KB PNG of 13000x13000 pixels: decoding it alone would take 169 MB (preparing it,
    2 GB); refused on its header, the process's peak memory grows by less than 30 MB."""
    import subprocess
    import sys

    from corpus_cases_serve import blank_png

    from purenet.io.images import MAX_PIXELS

    (tmp_path / "huge.png").write_bytes(blank_png(13000, 13000))
    done = subprocess.run([sys.executable, "-c", MEASURE, str(tmp_path / "huge.png")], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    *messages, grown_kb = done.stdout.splitlines()
    said = "the image is 13000x13000 pixels (169 megapixels), more than the 40 megapixels purenet decodes; scale it down first"
    assert messages == [f"{tmp_path / 'huge.png'}: {said}", f"upload: {said}"]
    assert int(grown_kb) < 30_000  # KB
    assert MAX_PIXELS == 40_000_000


def test_the_pixel_cap_is_checked_on_a_jpegs_reduced_size(tmp_path, seven, monkeypatch):
    """A JPEG is decoded at a reduced size (its draft): a photo over the cap in full size is read."""
    picture = photo(seven, np.random.default_rng(18)).resize((1600, 1200))
    picture.save(tmp_path / "photo.jpg", quality=85)
    picture.save(tmp_path / "photo.png")
    monkeypatch.setattr("purenet.io.images.MAX_PIXELS", 1600 * 1200 - 1)  # the full size is over it; the draft is not
    assert load_digit_image(tmp_path / "photo.jpg").shape == (28, 28)
    with pytest.raises(ImageError, match=r"photo\.png: the image is 1600x1200 pixels"):
        load_digit_image(tmp_path / "photo.png")
