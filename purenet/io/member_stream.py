"""One member of a zip archive, decompressed here a bounded piece at a time.

    MemberStream(path, handle, info, key, size, error)   a file-like reader of the member's bytes:
        .read(n) / .readinto(buffer) / .tell()            never more than the zip declares; CRC-32 checked

``zipfile`` would inflate a whole bzip2 or LZMA chunk (gigabytes, from a few KB)
before cutting it to the size asked for; this stream asks each decompressor for at
most ``_OUT_SIZE`` bytes at a time, and refuses a member the moment it expands past
the size the zip's directory declares. It reads stored, deflate, bzip2 and LZMA
members; which members are read at all, and what their sizes may be, is checked
before by ``purenet.io.archive``. Every problem raises the caller's ``error`` with a
message that starts with the archive's path.
"""

from __future__ import annotations

import bz2
import lzma
import struct
import zipfile
import zlib
from pathlib import Path
from typing import IO, Any

_READ_SIZE = 1 << 16  # compressed bytes read at a time
_OUT_SIZE = 1 << 20  # bytes decompressed at a time, at most
_LZMA_DICT_MIN = 4096  # the smallest dictionary liblzma accepts


class MemberStream:
    """One member's bytes, decompressed here a bounded piece at a time: ``read(n)`` never
    gives more than ``n`` bytes, nor more in all than the zip declares (a stream that goes
    on is refused as soon as it does), and the CRC-32 is checked at the end."""

    def __init__(self, path: Path, handle: IO[bytes], info: zipfile.ZipInfo, key: str, size: int,
                 error: type[Exception]) -> None:
        self.path, self.handle, self.key, self.error = path, handle, key, error
        self.offset = _data_offset(path, handle, info, key, size, error)
        self.compressed_left = info.compress_size
        self.left = info.file_size  # bytes still to give, as declared
        self.declared, self.expected_crc, self.crc = info.file_size, info.CRC, 0
        self.position = 0
        self.pending = b""  # compressed input the decompressor has not taken yet
        self.decompressor = _decompressor(self, info)

    def tell(self) -> int:
        return self.position

    def read(self, n: int = -1) -> bytes:
        n = self.left if n is None or n < 0 else min(n, self.left)
        buffer = bytearray(n)
        return bytes(buffer[: self.readinto(buffer)])

    def readinto(self, buffer) -> int:
        """Fill ``buffer`` (or as much as the member has left), a decompressed piece at a time."""
        view = memoryview(buffer).cast("B")
        wanted, done = min(len(view), self.left), 0
        while done < wanted:
            piece = self._produce(min(wanted - done, _OUT_SIZE))
            if not piece:
                break
            view[done : done + len(piece)] = piece
            self.crc = zlib.crc32(piece, self.crc)
            done += len(piece)
        self.left -= done
        self.position += done
        if self.left == 0:
            self._finish()
        return done

    def _input(self) -> bytes:
        """The next compressed bytes of the member (b"" once all are read)."""
        count = min(_READ_SIZE, self.compressed_left)
        if count == 0:
            return b""
        self.handle.seek(self.offset)
        data = self.handle.read(count)
        if len(data) < count:
            raise self.error(f"{self.path}: {self.key!r} is truncated: its compressed bytes end early")
        self.offset += count
        self.compressed_left -= count
        return data

    def _produce(self, n: int) -> bytes:
        """Up to ``n`` (>= 1) decompressed bytes; b"" at the end of the stream."""
        decompressor = self.decompressor
        if decompressor is None:  # stored
            return self._input_exactly(n)
        while True:
            if decompressor.eof:
                return b""
            if isinstance(decompressor, _Inflate):
                data = self.pending or self._input()
            else:
                data = self._input() if decompressor.needs_input else b""
            if not data and not isinstance(decompressor, _Inflate) and decompressor.needs_input:
                return b""  # the compressed bytes are all used
            out = decompressor.decompress(data, n)
            self.pending = decompressor.unconsumed_tail if isinstance(decompressor, _Inflate) else b""
            if out:
                return out
            if not data:
                return b""

    def _input_exactly(self, n: int) -> bytes:
        parts, wanted = [], n
        while wanted > 0:
            count = min(wanted, self.compressed_left)
            if count == 0:
                break
            self.handle.seek(self.offset)
            data = self.handle.read(count)
            if not data:
                break
            self.offset += len(data)
            self.compressed_left -= len(data)
            parts.append(data)
            wanted -= len(data)
        return b"".join(parts)

    def _finish(self) -> None:
        """Every declared byte was given: nothing may follow, and the CRC-32 must match."""
        if self.decompressor is not None and self._produce(1):
            raise self.error(f"{self.path}: {self.key!r} decompresses to more than the {self.declared} bytes its "
                             "zip directory declares; a decompression bomb or a corrupt archive")
        if self.crc != self.expected_crc:
            raise self.error(f"{self.path}: {self.key!r} fails its CRC-32 check: the archive is corrupt")


def _data_offset(path: Path, handle: IO[bytes], info: zipfile.ZipInfo, key: str, size: int,
                 error: type[Exception]) -> int:
    """Where the member's compressed bytes start: after its local header, name and extra field."""
    handle.seek(info.header_offset)
    local = handle.read(30)
    if len(local) < 30 or local[:4] != b"PK\x03\x04":
        raise error(f"{path}: {key!r} has no local header where the zip's directory puts it; corrupt")
    name_length, extra_length = struct.unpack("<HH", local[26:30])
    start = info.header_offset + 30 + name_length + extra_length
    if start + info.compress_size > size:
        raise error(f"{path}: {key!r} claims {info.compress_size} compressed bytes at offset {start}, "
                    f"past the end of the file ({size} bytes); truncated or corrupt")
    return start


# --- the decompressors: each can stop at a number of bytes out -----------------------------------


def _decompressor(stream: MemberStream, info: zipfile.ZipInfo) -> Any:
    """The member's decompressor (None: stored), each able to stop at a number of bytes out."""
    if info.compress_type == zipfile.ZIP_STORED:
        if info.compress_size != info.file_size:
            raise stream.error(f"{stream.path}: {stream.key!r} is stored (not compressed) in {info.compress_size} "
                               f"bytes but declares {info.file_size}; corrupt")
        return None
    if info.compress_type == zipfile.ZIP_DEFLATED:
        return _Inflate()
    if info.compress_type == zipfile.ZIP_BZIP2:
        return bz2.BZ2Decompressor()
    return _lzma_decompressor(stream, info.file_size)


def _lzma_decompressor(stream: MemberStream, declared: int) -> lzma.LZMADecompressor:
    """A zip's LZMA member: a 4-byte header (version, size of the properties), the 5 bytes of
    LZMA1 properties, then raw LZMA1. The dictionary is never made larger than the member
    (no match can reach further back than its start), so a header claiming 4 GiB costs nothing."""
    head = stream._input_exactly(4)
    if len(head) < 4:
        raise stream.error(f"{stream.path}: {stream.key!r} is a truncated LZMA member")
    (properties_size,) = struct.unpack("<H", head[2:4])
    properties = stream._input_exactly(properties_size)
    if properties_size != 5 or len(properties) != 5 or properties[0] >= 9 * 5 * 5:
        raise stream.error(f"{stream.path}: {stream.key!r} has unreadable LZMA properties")
    lc_lp_pb, dictionary = properties[0], struct.unpack("<I", properties[1:5])[0]
    pb, rest = divmod(lc_lp_pb, 45)
    lp, lc = divmod(rest, 9)
    dictionary = max(_LZMA_DICT_MIN, min(dictionary, declared))
    lzma_filter = {"id": lzma.FILTER_LZMA1, "dict_size": dictionary, "lc": lc, "lp": lp, "pb": pb}
    return lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=[lzma_filter])


class _Inflate:
    """zlib's raw deflate decompressor, with the attributes the stream reads."""

    def __init__(self) -> None:
        self._d = zlib.decompressobj(-15)

    @property
    def eof(self) -> bool:
        return self._d.eof

    @property
    def unconsumed_tail(self) -> bytes:
        return self._d.unconsumed_tail

    def decompress(self, data: bytes, max_length: int) -> bytes:
        return self._d.decompress(data, max_length)
