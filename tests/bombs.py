"""Decompression bombs for the tests: .npz archives of a few KB whose members expand to
hundreds of MB of zeros, written without ever holding the expanded bytes.

    member(name, shape, dtype, method, zeros=None, declared=None) -> Member
    archive(members) -> bytes                   a zip of those members, as ``np.savez`` names them

A member is a .npy header for ``shape`` and ``dtype`` followed by ``zeros`` zero bytes
(default: as many as the shape needs), compressed with ``method`` (zipfile.ZIP_DEFLATED,
ZIP_BZIP2 or ZIP_LZMA). ``declared`` makes the zip's directory lie about the member's
uncompressed size. Streams are cached: each is built once per test session.
"""

from __future__ import annotations

import bz2
import functools
import io
import lzma
import math
import struct
import zipfile
import zlib
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

_CHUNK = 1 << 24  # 16 MiB of zeros at a time
_VERSION_NEEDED = {zipfile.ZIP_STORED: 20, zipfile.ZIP_DEFLATED: 20, zipfile.ZIP_BZIP2: 46, zipfile.ZIP_LZMA: 63}


@dataclass(frozen=True)
class Member:
    name: str
    data: bytes  # compressed
    method: int
    crc: int
    size: int  # uncompressed, as the directory will declare it


def npy_header(shape: Sequence[int], dtype) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False, "shape": tuple(shape)})
    return buffer.getvalue()


def member(name: str, shape: Sequence[int], dtype, method: int, zeros: Optional[int] = None,
           declared: Optional[int] = None) -> Member:
    header = npy_header(shape, dtype)
    zeros = math.prod(shape) * np.dtype(dtype).itemsize if zeros is None else zeros
    data, crc = _stream(header, zeros, method)
    return Member(name=f"{name}.npy", data=data, method=method, crc=crc,
                  size=len(header) + zeros if declared is None else declared)


@functools.lru_cache(maxsize=None)
def _stream(header: bytes, zeros: int, method: int) -> tuple[bytes, int]:
    """``header`` and ``zeros`` zero bytes, compressed; and their CRC-32."""
    crc = zlib.crc32(header)
    full, rest = divmod(zeros, _CHUNK)
    chunk = bytes(_CHUNK)
    for _ in range(full):
        crc = zlib.crc32(chunk, crc)
    crc = zlib.crc32(bytes(rest), crc)
    if method == zipfile.ZIP_DEFLATED:
        return _deflated(header, full, rest), crc
    compressor = _compressor(method)
    parts = [_lzma_head() if method == zipfile.ZIP_LZMA else b"", compressor.compress(header)]
    for _ in range(full):
        parts.append(compressor.compress(chunk))
    parts += [compressor.compress(bytes(rest)), compressor.flush()]
    return b"".join(parts), crc


def _deflated(header: bytes, full: int, rest: int) -> bytes:
    """Deflate by repetition: after a full flush a deflate stream starts afresh (no reference
    reaches back past it), so one compressed 16 MiB of zeros serves for all of them."""
    def piece(data: bytes) -> bytes:
        compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
        return compressor.compress(data) + compressor.flush(zlib.Z_FULL_FLUSH)

    end = zlib.compressobj(9, zlib.DEFLATED, -15).flush(zlib.Z_FINISH)  # an empty final block
    return piece(header) + _zeros_piece(piece) * full + piece(bytes(rest)) + end


@functools.lru_cache(maxsize=None)
def _zeros_piece(piece) -> bytes:
    return piece(bytes(_CHUNK))


def _compressor(method: int):
    if method == zipfile.ZIP_BZIP2:
        return bz2.BZ2Compressor(9)
    return lzma.LZMACompressor(lzma.FORMAT_RAW, filters=[_LZMA_FILTER])


_LZMA_FILTER = {"id": lzma.FILTER_LZMA1, "preset": 0, "dict_size": 1 << 20}


def _lzma_head() -> bytes:
    """What a zip's LZMA member starts with: LZMA SDK version 9.20, 5 bytes of properties."""
    lc, lp, pb = 3, 0, 2
    return struct.pack("<BBHBI", 9, 20, 5, (pb * 5 + lp) * 9 + lc, _LZMA_FILTER["dict_size"])


def archive(members: Sequence[Member]) -> bytes:
    """A zip of ``members`` (no zip64: each below 4 GiB)."""
    out, directory = io.BytesIO(), io.BytesIO()
    for m in members:
        offset = out.tell()
        name = m.name.encode()
        flags = 0x2 if m.method == zipfile.ZIP_LZMA else 0  # the LZMA stream ends with a marker
        fields = (_VERSION_NEEDED[m.method], flags, m.method, 0, 0x21, m.crc, len(m.data), m.size, len(name))
        out.write(struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", *fields, 0) + name + m.data)
        directory.write(struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, *fields, 0, 0, 0, 0, 0, offset) + name)
    start, table = out.tell(), directory.getvalue()
    out.write(table)
    out.write(struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, len(members), len(members), len(table), start, 0))
    return out.getvalue()


METHODS = {"deflate": zipfile.ZIP_DEFLATED, "bzip2": zipfile.ZIP_BZIP2, "lzma": zipfile.ZIP_LZMA}


def stored(name: str, array: np.ndarray) -> Member:
    """A member holding ``array`` as it is (what ``np.savez`` writes)."""
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.asarray(array), allow_pickle=False)
    data = buffer.getvalue()
    return Member(name=f"{name}.npy", data=data, method=zipfile.ZIP_STORED, crc=zlib.crc32(data), size=len(data))


_GZIP_PIECE = 1 << 22  # 4 MiB of zeros, deflated once and repeated


def gzipped_zeros(header: bytes, zeros: int) -> bytes:
    """A gzip file of ``header`` then ``zeros`` zero bytes, built without holding them: after a
    full flush a deflate stream starts afresh, so one deflated piece serves for all."""
    def deflated(data: bytes, final: bool = False) -> bytes:
        compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
        return compressor.compress(data) + compressor.flush(zlib.Z_FINISH if final else zlib.Z_FULL_FLUSH)

    full, rest = divmod(zeros, _GZIP_PIECE)
    crc = zlib.crc32(header)
    for _ in range(full):
        crc = zlib.crc32(bytes(_GZIP_PIECE), crc)
    crc = zlib.crc32(bytes(rest), crc)
    body = deflated(header) + deflated(bytes(_GZIP_PIECE)) * full + deflated(bytes(rest), final=True)
    trailer = crc.to_bytes(4, "little") + ((len(header) + zeros) % 2**32).to_bytes(4, "little")
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + body + trailer
