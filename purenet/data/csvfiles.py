"""CSV files: a label, then the pixels, one image per line (an optional header row).

Parsed with NumPy straight from the bytes, a chunk of lines at a time, so that a
bad cell is reported with its exact line and column and what is wrong with it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterator

import numpy as np

from purenet.base.checks import cut
from purenet.data.splits import DataError, Dataset, Split, make_dataset, open_error, open_regular, square_shape

CSV_NAMES = ("mnist_train.csv", "mnist_test.csv")
"""The two files of a CSV folder (the layout of the widely shared Kaggle/pjreddie CSVs)."""

_COMMA, _NEWLINE, _ZERO = ord(","), ord("\n"), ord("0")


def is_csv_folder(path: Path) -> bool:
    train = path / CSV_NAMES[0]  # a FIFO by that name counts too: reading it says what it is
    return path.is_dir() and os.path.lexists(train) and not train.is_dir()


def is_csv(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() == ".csv"


def load_csv(path: Path) -> Dataset:
    """Read one CSV file as a training split (a lone CSV has no test part)."""
    return make_dataset(read_csv(path), None, path)


def load_csv_folder(folder: Path) -> Dataset:
    """Read ``mnist_train.csv`` and, if present, ``mnist_test.csv`` of ``folder``."""
    train_path, test_path = (folder / name for name in CSV_NAMES)
    train = read_csv(train_path)
    test = read_csv(test_path) if test_path.exists() or test_path.is_symlink() else None
    return make_dataset(train, test, folder)


class _BadCell(Exception):
    """Where a CSV chunk went wrong: ``row`` within the chunk, ``column`` (None: the row's
    length), and ``text``: the cell's bytes, or for a row of the wrong length its cell count."""

    def __init__(self, row: int, column: int | None, text: bytes) -> None:
        super().__init__(row, column, text)
        self.row, self.column, self.text = row, column, text




def read_csv(path: Path) -> Split:
    """Read a CSV of rows ``label, pixel, pixel, ...``: labels 0-255, pixels 0-255, any fixed width.

    An optional header row is recognised (see ``_is_header``), after an optional UTF-8
    byte order mark. Parsing works on the raw bytes with NumPy, 32 KB of rows at a time;
    a problem is reported with the file's line and column. Returns images (N, columns - 1)
    uint8 and labels (N,) uint8; ``image_shape`` is square if the pixel count is a square.
    """
    body, first_line, header = _csv_body(path, _read_file(path))
    n_cols = body.partition(b"\n")[0].count(b",") + 1
    if n_cols < 2:
        raise DataError(f"{path}: line {first_line} has 1 column; expected a label, then pixel values, separated by commas")
    if header is not None and header[1] != n_cols:
        raise DataError(f"{path}: line {first_line} has {n_cols} columns but the header (line {header[0]}) has {header[1]}")
    n_rows = body.count(b"\n") + 1
    # Every good cell takes a digit and a separator: a first row wider than the file can
    # repeat means a short row somewhere, which the parse reports; never allocate for it.
    fits = 2 * n_rows * n_cols <= len(body) + 1
    images = np.empty((n_rows, n_cols - 1) if fits else (0, 0), dtype=np.uint8)
    labels = np.empty(n_rows if fits else 0, dtype=np.uint8)
    for row, chunk in _csv_chunks(body):
        try:
            values = _parse_csv_chunk(chunk, n_cols)
        except _BadCell as bad:
            raise DataError(_bad_cell_message(path, first_line + row + bad.row, bad, n_cols)) from None
        if fits:
            labels[row : row + len(values)] = values[:, 0]
            images[row : row + len(values)] = values[:, 1:]
    if not fits:  # pragma: no cover - the parse above finds the short row first
        raise DataError(f"{path}: rows of different lengths (line {first_line} has {n_cols} columns)")
    return Split(images=images, labels=labels, image_shape=square_shape(n_cols - 1))


def _read_file(path: Path) -> bytes:
    with open_regular(path) as handle:
        try:
            return handle.read()
        except OSError as error:
            raise open_error(path, error) from None


_NOT_CSV = (
    (b"\x1f\x8b", "gzip-compressed; decompress it first (gunzip)"),
    (b"PK\x03\x04", "a zip archive; unpack it first"),
    (b"\xff\xfe", "UTF-16 text; save it as UTF-8"),
    (b"\xfe\xff", "UTF-16 text; save it as UTF-8"),
)
_BOM = b"\xef\xbb\xbf"
_QUOTED = 23
"""How much of a cell or header a message quotes: 20 characters and "..." when it is longer."""
_SEPARATORS = ((b";", "semicolons"), (b"\t", "tabs"), (b" ", "spaces"))


def _csv_body(path: Path, data: bytes) -> tuple[bytes, int, tuple[int, int] | None]:
    """The data rows, without header, blanks, quotes or ``\\r``; the file line they start on;
    and for a header, (its line, its number of cells)."""
    for magic, what in _NOT_CSV:
        if data.startswith(magic):
            raise DataError(f"{path}: not a CSV text file: {what}")
    data = data.removeprefix(_BOM)
    if b"\n" not in data:  # lines ended by "\r" alone (classic Mac OS)
        data = data.replace(b"\r", b"\n")
    _check_separator(path, data)
    for junk in (b"\r", b" ", b"\t", b'"'):
        if junk in data:  # a quick scan saves a copy in the usual case
            data = data.replace(junk, b"")
    data, first_line = _skip_blank_lines(data, 1)
    header = None
    if data and _is_header(data.partition(b"\n")[0]):
        line, _, data = data.partition(b"\n")
        _check_header(path, line, first_line)
        header = (first_line, line.count(b",") + 1)
        data, first_line = _skip_blank_lines(data, first_line + 1)
    data = data.rstrip(b"\n")
    if not data:
        rows = "a header but no data rows" if header else "no data rows"
        raise DataError(f"{path}: empty CSV: {rows}, so it holds no images")
    return data, first_line, header


def _check_separator(path: Path, data: bytes) -> None:
    """Refuse a file whose first line separates its values with something other than commas."""
    rest = data.lstrip(b"\r\n \t")
    line = rest.partition(b"\n")[0].strip()
    if not line or b"," in line:
        return
    number = data[: len(data) - len(rest)].count(b"\n") + 1
    for separator, name in _SEPARATORS:
        if separator in line:
            raise DataError(f"{path}: line {number}: values separated by {name}; expected commas (label,pixel,pixel,...)")


def _skip_blank_lines(data: bytes, line: int) -> tuple[bytes, int]:
    """``data`` without its leading blank lines, and the number of the line it now starts on."""
    rest = data.lstrip(b"\n")
    return rest, line + len(data) - len(rest)


def _is_header(line: bytes) -> bool:
    """A header names its columns: its first cell is no number, nor are most of the others
    (``label,pixel0,...`` or ``label,0,1,...,783``; but ``x,0,0,...`` is a data row gone wrong)."""
    first, *rest = line.split(b",", 1000)[:1000]  # a sample of the cells is enough
    pixels = sum(cell.isdigit() and len(cell) <= 3 and int(cell) <= 255 for cell in rest)
    return not first.lstrip(b"-").isdigit() and pixels < len(rest) / 2


def _check_header(path: Path, line: bytes, number: int) -> None:
    """Refuse a header whose first column is not the label: unnamed (a pandas index) or a pixel."""
    try:
        line.decode("utf-8")
    except UnicodeDecodeError as error:
        bad = line[max(0, error.start - 10) : error.end + 10]
        raise DataError(f"{path}: line {number} (the header) is not UTF-8 text (near {bad!r})") from None
    cells = line.split(b",")
    first = cells[0].decode()
    if not first:
        raise DataError(f"{path}: the header (line {number}) starts with an unnamed column, as pandas writes its "
                        "index; purenet needs the label first (write the file with to_csv(index=False))")
    if len(cells) > 1 and re.search(rb"[0-9]", cells[0]) and _name_pattern(cells[0]) == _name_pattern(cells[1]):
        raise DataError(f"{path}: no label column: the header (line {number}) starts with {cut(first, _QUOTED)!r}, "
                        "a pixel; purenet needs the label first (an unlabelled set, such as Kaggle's test.csv, cannot be read)")


def _name_pattern(cell: bytes) -> bytes:
    """A column name with its numbers blanked: pixel0 and pixel783 have the same pattern."""
    return re.sub(rb"[0-9]+", b"#", cell.lower())


def _csv_chunks(body: bytes, size: int = 1 << 15) -> Iterator[tuple[int, bytes]]:
    """Whole rows of ``body``, about ``size`` bytes at a time, with the index of their first row."""
    row, start = 0, 0
    while start < len(body):
        end = body.find(b"\n", start + size)
        end = len(body) if end < 0 else end
        chunk = body[start:end]
        yield row, chunk
        row += chunk.count(b"\n") + 1
        start = end + 1


def _parse_csv_chunk(chunk: bytes, n_cols: int) -> np.ndarray:
    """Rows of comma-separated whole numbers 0-255 -> (rows, n_cols) uint16; raises ``_BadCell``
    at the first bad cell, or at a row with the wrong number of cells, whichever comes first."""
    text = np.frombuffer(chunk, dtype=np.uint8)
    seps = np.flatnonzero((text == _COMMA) | (text == _NEWLINE))
    wrong = _first_wrong_row(text, seps, n_cols)
    if wrong is not None:
        row, count, start = wrong
        if row:
            _parse_csv_chunk(chunk[: start - 1], n_cols)  # a bad cell on an earlier row comes first
        raise _BadCell(row, None, str(count).encode())
    ends = np.append(seps, len(text))  # each cell ends at a separator or at the end
    starts = np.concatenate(([0], seps + 1))
    digits = text - np.uint8(_ZERO)  # wraps around, so any non-digit lands above 9
    lengths = ends - starts
    bad = (lengths == 0) | (lengths > 3)  # 0-255 needs 1 to 3 digits
    stray = np.flatnonzero((digits > 9) & (text != _COMMA) & (text != _NEWLINE))
    bad[np.searchsorted(ends, stray)] = True
    values = _cell_values(digits, ends, lengths)
    bad |= values > 255
    if bad.any():
        cell = int(np.argmax(bad))
        raise _BadCell(cell // n_cols, cell % n_cols, chunk[starts[cell] : ends[cell]])
    return values.reshape(-1, n_cols)


def _first_wrong_row(text: np.ndarray, seps: np.ndarray, n_cols: int) -> tuple[int, int, int] | None:
    """(row, its cell count, where it starts) of the first row without exactly ``n_cols`` cells."""
    newlines = seps[text[seps] == _NEWLINE]
    row_ends = np.flatnonzero(text[seps] == _NEWLINE)  # index in seps of each row's last separator
    last_cells = np.concatenate(([-1], row_ends, [len(seps)]))
    counts = np.diff(last_cells)
    wrong = np.flatnonzero(counts != n_cols)
    if not len(wrong):
        return None
    row = int(wrong[0])
    return row, int(counts[row]), int(newlines[row - 1]) + 1 if row else 0


def _cell_values(digits: np.ndarray, ends: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The value of each cell of up to three digits, read from its last three characters."""
    values = np.zeros(len(ends), dtype=np.uint16)
    for place in range(3):
        digit = digits.take(ends - 1 - place, mode="clip").astype(np.uint16)
        values += np.where(lengths > place, digit * np.uint16(10**place), np.uint16(0))
    return values


_WHOLE = re.compile(r"([+-]?)([0-9]+)")
_DECIMAL = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


def _bad_cell_message(path: Path, line: int, bad: _BadCell, n_cols: int) -> str:
    if bad.column is None:
        count = int(bad.text)
        columns = f"{count} column{'s' * (count != 1)}"
        return f"{path}: line {line} has {columns}, expected {n_cols} (a label, then {n_cols - 1} pixels)"
    what = "label" if bad.column == 0 else "pixel"
    where = f"{path}: line {line}, column {bad.column + 1}"
    expected = f"expected a {what}, a whole number 0-255"
    if not bad.text:
        return f"{where}: empty cell ({expected})"
    try:
        text = bad.text.decode("utf-8")
    except UnicodeDecodeError:
        return f"{where}: {cut(bad.text, _QUOTED)!r} is not UTF-8 text ({expected})"
    shown = cut(text, _QUOTED)
    whole = _WHOLE.fullmatch(text)
    if whole and whole[1] == "-" and whole[2].strip("0"):
        return f"{where}: {what} {shown} is negative ({expected})"
    if whole and (len(whole[2].lstrip("0")) > 3 or int(whole[2]) > 255):
        return f"{where}: {what} {shown} is above 255 ({expected})"
    if whole:
        return f"{where}: {shown!r} is not written as a plain whole number ({expected}, as 1 to 3 digits)"
    if _DECIMAL.fullmatch(text):
        return f"{where}: {what} {shown} is not a whole number ({expected})"
    return f"{where}: {shown!r} is not a number ({expected})"

