"""From a photo of a handwritten digit to an image of the digit as MNIST would have it.

    load_digit_image(path, warned=None) -> (28, 28) uint8, a white digit on black, made the way MNIST was made
    read_digit_image(data, name)  -> the same, from the bytes of an image file (an upload)
    preprocess(image)             -> the same, from a PIL image that is already open
    ImageError         the file is not a readable image, or no digit can be found in it
    ImageWarning       something odd about an image read all the same (when no ``warned`` list is given)

(``load_digit`` and ``read_digit``, the names of 0.1, still work and warn: they
return images, not digits.)

MNIST's digits are NIST scans whose ink was scaled to fit a 20x20 box (keeping the
aspect ratio, anti-aliased, hence the grey levels) and pasted into a 28x28 field so
that the centre of mass of the ink lands at the centre (LeCun, Cortes and Burges's
description of the set). A network trained on them only reads a photo prepared the
same way, so ``preprocess`` rebuilds that recipe from a photo, in ten steps that each
answer something real photos get wrong, one function each, defined in this order in
three modules, each step just below its own constants:

1. ``ink.working_rgb``: apply the EXIF rotation, flatten any alpha channel onto a
   background that contrasts with the strokes, and bring the long side to WORK_SIZE
   pixels (phone photos are 4000 px wide; the digit needs a few hundred).
2. ``ink.dark_ink``: make the ink dark, inverting light-on-dark drawings.
3. ``ink.ink_strength``: estimate the paper colour around every pixel (a plane for the
   overall lighting, then a closing on a coarse grid, which follows shadows but not
   strokes) and measure how far each pixel falls below it, over all three channels,
   so blue or red ink on coloured paper counts as ink just like pencil.
4. ``pieces.without_edge_regions``: clear a table, dark margin or frame along the image's edge.
5. ``pieces.without_ruled_lines``: paint over the ruled lines of lined paper.
6. ``pieces.ink_threshold``: split ink from paper with Otsu's threshold (steps 4 and 5
   use the same split to find what to clear); a blank image stops here.
7. ``pieces.digit_components``: keep the digit's connected pieces, dropping specks,
   paper edges and frames.
8. ``field.ink_levels``: the digit as a nearly binary picture with soft edges, as the
   NIST scans were (a digit that does not stand out from the paper's noise stops here).
9. ``field.strokes_like_mnist``: crop to the digit and thicken or thin its strokes into
   MNIST's range of widths relative to the digit's size (a thin pen line would vanish
   at 28x28; a marker fills loops).
10. ``field.to_field``: shrink into the 20x20 box (the anti-aliasing gives the grey
    levels) and paste into 28x28 with the centre of mass at MNIST's centre, as uint8 0-255.

Clean images take a short way (``purenet.photo.clean``): a drawing from the draw page's
canvas, and any small image with a flat white or black background and solid strokes,
has none of the problems steps 2 to 5 answer, and they are nine tenths of the time.
After step 1, ``clean.clean_ink`` measures whether the picture is clean (six properties
of its pixels: small, white or black and flat background, two-tone, nothing along the
edge, no ruled lines; its docstring gives the figures); if it is, its ink is its distance
from the background, and ``clean.clean_digit`` runs steps 6 to 10, unchanged, on the ink
cropped and shrunk to about 64 pixels: about 14 times faster than the ten steps on the
draw page's canvas (docs/performance.md), and a digit close to theirs (a correlation of
0.96-0.99 once the rounded centre of mass may land one pixel over; tests/test_clean.py).
A blank canvas raises the same ``ImageError``. Anything else, photos first, takes all ten steps.

The modules are ``purenet.photo.ink``, ``purenet.photo.pieces`` and
``purenet.photo.field``; every threshold is a constant there, saying where it comes
from: MNIST's construction, Pillow's documentation, or a choice and what it guards
against. Opening and decoding the file comes before them (``purenet.photo.reading``);
the generic image operations they build on (filters, plane fitting, Otsu's threshold,
connected components...) are in ``purenet.photo.ops``.

>>> from PIL import Image, ImageDraw
>>> paper = Image.new("L", (300, 300), 255)
>>> ImageDraw.Draw(paper).line([(150, 40), (150, 260)], fill=0, width=12)
>>> digit = preprocess(paper)
>>> digit.shape, digit.dtype
((28, 28), dtype('uint8'))
"""

from __future__ import annotations

import os
import warnings
from typing import Callable

import numpy as np
from PIL import Image

from purenet.photo import clean, field, ink, pieces
from purenet.photo.errors import ImageError, ImageWarning
from purenet.photo.reading import decode_photo, one_line, open_photo

__all__ = ["ImageError", "ImageWarning", "load_digit_image", "preprocess", "read_digit_image"]


def preprocess(image: Image.Image) -> np.ndarray:
    """Turn an opened photo, scan or drawing of one digit into an MNIST digit.

    ``image`` may be in any Pillow mode (colour, grey, palette, 16-bit, with or without
    alpha); dark ink on light paper and light ink on dark are both read. Returns a
    (28, 28) uint8 array, white digit on black. Raises ``ImageError`` if the image is
    blank (no ink stands out from the background): a blank photo has no answer, and
    returning an empty field would make the network guess. The steps are those of the
    module's docstring, in its order; a clean image (a drawing) skips steps 2-5.
    """
    rgb = ink.working_rgb(image)  # 1
    strength = clean.clean_ink(rgb, image.size)
    if strength is not None:  # a drawing, not a photo: steps 2-5 have nothing to do
        return clean.clean_digit(strength)  # steps 6-10 on a small crop
    rgb = ink.dark_ink(rgb)  # 2
    strength = ink.ink_strength(rgb)  # 3
    strength = pieces.without_edge_regions(strength)  # 4
    strength = pieces.without_ruled_lines(strength)  # 5
    threshold = pieces.ink_threshold(strength)  # 6
    digit = pieces.digit_components(strength, threshold)  # 7
    grey = field.ink_levels(strength, threshold, digit)  # 8
    grey = field.strokes_like_mnist(grey, digit)  # 9
    return field.to_field(grey)  # 10


def load_digit_image(path: str | os.PathLike, warned: list[str] | None = None) -> np.ndarray:
    """Read the image file at ``path`` and return the image of its digit as MNIST would have it.

    Returns a (28, 28) uint8 array, white (255) ink on black (0), the digit fitted
    into the central 20x20 box with its centre of mass at pixel (14, 14). Any format
    Pillow reads works (JPEG, PNG, BMP, GIF, TIFF, WebP...). Raises ``ImageError``
    naming the file when it cannot be read (``purenet.photo.reading`` says when) or is blank.

    Warnings raised while the file is read (Pillow's about damaged EXIF data or an image
    over its decompression-bomb warning size, NumPy's...) never escape as they are, whatever
    the process's warning filters: each becomes one line "PATH: message", appended to
    ``warned`` when a list is given, else issued again as an ``ImageWarning``. When the file
    cannot be read, the ``ImageError`` alone says why (its warnings are dropped).
    """
    return _read(lambda: open_photo(path), path, warned)


def read_digit_image(data: bytes, name: str = "image", warned: list[str] | None = None) -> np.ndarray:
    """The image of the digit in an image file given as bytes (an upload), read as
    ``load_digit_image`` reads a file holding those bytes: the same decoding and steps, so
    the same answer. Errors and warnings name ``name`` where ``load_digit_image``'s name the path."""
    return _read(lambda: decode_photo(data, name), name, warned)


def _read(open_image: Callable[[], Image.Image], name: str | os.PathLike, warned: list[str] | None) -> np.ndarray:
    """``preprocess(open_image())``, every warning on the way turned into one line "NAME: message"."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # record them all, even under PYTHONWARNINGS=error
        image = open_image()
        try:
            digit = preprocess(image)
        except ImageError as error:
            raise ImageError(f"{name}: {error}") from None
    lines = list(dict.fromkeys(f"{name}: {one_line(str(warning.message))}" for warning in caught))
    if warned is not None:
        warned.extend(lines)
    else:
        for line in lines:
            warnings.warn(line, ImageWarning, stacklevel=3)
    return digit


# The names of 0.1, for one release -----------------------------------------------------------------


def load_digit(path: str | os.PathLike, warned: list[str] | None = None) -> np.ndarray:
    """Deprecated name of ``load_digit_image`` (it returns an image, not a digit); goes in the next release."""
    _renamed("load_digit", "load_digit_image")
    return load_digit_image(path, warned)


def read_digit(data: bytes, name: str = "image", warned: list[str] | None = None) -> np.ndarray:
    """Deprecated name of ``read_digit_image`` (it returns an image, not a digit); goes in the next release."""
    _renamed("read_digit", "read_digit_image")
    return read_digit_image(data, name, warned)


def _renamed(old: str, new: str) -> None:
    warnings.warn(f"purenet.photo.prepare.{old} is now {new}; the old name goes in the next release",
                  DeprecationWarning, stacklevel=3)
