"""Image files: how many pixels purenet decodes of one, checked before decoding.

    MAX_PIXELS                       the most pixels purenet decodes of one image (40 megapixels)
    check_pixels(size, name, error)  raise ``error`` naming ``name`` when ``size`` is over MAX_PIXELS
    REDUCING_GAP                     Pillow's ``reducing_gap`` for shrinking a large image

Both readers of image files call ``check_pixels`` between ``Image.open`` (which reads
the header only) and decoding: the photo pipeline (``purenet.photo.reading``) and the
class folders of images (``purenet.data.folders``), each with its own error class.
"""

from __future__ import annotations

import os

MAX_PIXELS = 40_000_000
"""The most pixels purenet decodes of one image: 40 megapixels (a 600 dpi scan of an A4
page has 35). Decoding and preparing an image takes about 12 bytes a pixel (a 40-megapixel
PNG, half a gigabyte), and a small file can declare a huge image (a 500 KB PNG of
13000x13000 pixels), so the size the file's header declares is checked before anything is
decoded. A JPEG is decoded at a reduced size (its draft), and that size is the one
checked: a phone's 50-megapixel photo passes."""


def check_pixels(size: tuple[int, int], name: str | os.PathLike, error: type[Exception]) -> None:
    """Refuse an image whose declared ``size`` (width, height) is over MAX_PIXELS, before it
    is decoded: raise ``error`` with a message naming ``name``."""
    width, height = size
    if width * height > MAX_PIXELS:
        raise error(f"{name}: the image is {width}x{height} pixels ({width * height / 1e6:.0f} megapixels), "
                    f"more than the {MAX_PIXELS // 1_000_000} megapixels purenet decodes; scale it down first")


REDUCING_GAP = 3.0
"""Pillow's ``reducing_gap`` for shrinking an image by much: from 3.0 up, its documentation
says, the fast two-step resize is indistinguishable from a full resample in most cases."""
