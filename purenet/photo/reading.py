"""Before the ten steps of preparing a photo (``purenet.photo.prepare``): the file, decoded.

    open_photo(path)          -> PIL image, decoded and upright, the file closed again
    decode_photo(data, name)  -> the same from the bytes of an image file (an upload)
    one_line(text)            -> ``text`` on one line, for a message

Any format Pillow reads works (JPEG, PNG, BMP, GIF, TIFF, WebP...). Whatever goes
wrong is one ``ImageError`` naming the file: missing, empty, not a regular file (a
folder, a FIFO, a device: refused after ``os.stat``, never opened for reading, so
nothing blocks), not an image, truncated, or over ``purenet.io.images.MAX_PIXELS``
(refused on the size its header declares, before decoding) or Pillow's
decompression-bomb limit.
"""

from __future__ import annotations

import io
import os
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps

from purenet.io.images import check_pixels
from purenet.io.reading import open_regular
from purenet.photo.errors import ImageError
from purenet.photo.ink import WORK_SIZE


def open_photo(path: str | os.PathLike) -> Image.Image:
    """Decode the file at ``path`` (``decode_photo``'s way), the file closed again."""
    with _open_regular_file(path) as file:
        return _decode(file, path)


def decode_photo(data: bytes, name: str) -> Image.Image:
    """Decode the bytes of an image file, as ``open_photo`` decodes a file holding them;
    errors name ``name``."""
    if not data:
        raise ImageError(f"{name}: the file is empty (0 bytes)")
    return _decode(io.BytesIO(data), name)


def _decode(file: BinaryIO, name: str | os.PathLike) -> Image.Image:
    """Decode ``file`` and turn it upright (EXIF orientation) into an image in memory.
    JPEGs are decoded at a reduced size (DCT scaling): much faster for photos."""
    try:
        with Image.open(file) as image:  # reads the header only
            if image.format == "JPEG":
                image.draft(image.mode, _draft_size(image.size))
            check_pixels(image.size, name, ImageError)
            return ImageOps.exif_transpose(image)  # a new image: this loads the file
    except ImageError:
        raise
    except Image.UnidentifiedImageError:
        raise ImageError(f"{name}: not an image file (or a format Pillow cannot read)") from None
    except Image.DecompressionBombError as error:
        raise ImageError(f"{name}: too large to decode safely ({one_line(str(error))})") from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise ImageError(f"{name}: cannot decode the image ({one_line(str(error))})") from None
    except Exception as error:  # a damaged file can make a Pillow plugin fail in any way
        raise ImageError(f"{name}: cannot decode the image ({type(error).__name__}: {one_line(str(error))})") from None


def _draft_size(size: tuple[int, int]) -> tuple[int, int]:
    """The smallest size worth decoding a JPEG at: its long side still at least WORK_SIZE
    (the size step 1 works at)."""
    scale = WORK_SIZE / max(size)
    return (max(1, int(np.ceil(size[0] * scale))), max(1, int(np.ceil(size[1] * scale))))


def _open_regular_file(path: str | os.PathLike) -> BinaryIO:
    """``path`` opened for binary reading, once it is known to be a regular, non-empty file
    (``purenet.io.reading.open_regular``: a FIFO, socket, device or folder is never opened)."""
    return open_regular(path, ImageError, expected="an image file", problem=lambda error: _os_problem(error, path),
                        empty="the file is empty (0 bytes)")


def _os_problem(error: OSError, path: str | os.PathLike | None = None) -> str:
    """What an ``OSError`` of opening or inspecting ``path`` means, in a few words."""
    if isinstance(error, FileNotFoundError):
        if path is not None and os.path.islink(path):
            return "no such file (a symbolic link to a missing file)"
        return "no such file"
    if isinstance(error, PermissionError):
        return "permission denied"
    if isinstance(error, NotADirectoryError):
        return "no such file (a part of the path before it is not a directory)"
    if isinstance(error, IsADirectoryError):
        return "is a folder, not an image file"
    return f"cannot open it ({one_line(error.strerror or str(error))})"


def one_line(text: str) -> str:
    """``text`` with every run of whitespace (newlines included) made one space."""
    return " ".join(text.split())
