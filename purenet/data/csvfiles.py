"""CSV files: a label, then the pixels, one image per line (an optional header row).

Parsed with NumPy straight from the bytes, a chunk of lines at a time, so that a
bad cell is reported with its exact line and column.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from purenet.data.splits import DataError, Dataset, Split, make_dataset, open_error

CSV_NAMES = ("mnist_train.csv", "mnist_test.csv")
"""The two files of a CSV folder (the layout of the widely shared Kaggle/pjreddie CSVs)."""

_COMMA, _NEWLINE, _ZERO = ord(","), ord("\n"), ord("0")


def is_csv_folder(path: Path) -> bool:
    return path.is_dir() and (path / CSV_NAMES[0]).is_file()


def is_csv(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() == ".csv"


def load_csv(path: Path) -> Dataset:
    """Read one CSV file as a training split (a lone CSV has no test part)."""
    return Dataset(train=read_csv(path), test=None)


def load_csv_folder(folder: Path) -> Dataset:
    """Read ``mnist_train.csv`` and, if present, ``mnist_test.csv`` of ``folder``."""
    train_path, test_path = (folder / name for name in CSV_NAMES)
    test = read_csv(test_path) if test_path.exists() else None
    return make_dataset(read_csv(train_path), test, folder)


class _BadCell(Exception):
    """Where a CSV chunk went wrong: ``row`` within the chunk, ``column`` (None: the row's length)."""

    def __init__(self, row: int, column: int | None, text: str) -> None:
        super().__init__(row, column, text)
        self.row, self.column, self.text = row, column, text


def read_csv(path: Path) -> Split:
    """Read a CSV of rows ``label, pixel, pixel, ...``: labels 0-9, pixels 0-255, any fixed width.

    An optional header row is recognised (see ``_is_header``). Parsing works on the
    raw bytes with NumPy, 32 KB of rows at a time; a problem is reported with the
    file's line and column. Returns images (N, columns - 1) uint8 and labels (N,) uint8.
    """
    body, first_line = _csv_body(path, _read_file(path))
    n_rows = body.count(b"\n") + 1
    n_cols = body.partition(b"\n")[0].count(b",") + 1
    if n_cols < 2:
        raise DataError(f"{path}: line {first_line} has 1 column; expected a label, then pixel values")
    images = np.empty((n_rows, n_cols - 1), dtype=np.uint8)
    labels = np.empty(n_rows, dtype=np.uint8)
    for row, chunk in _csv_chunks(body):
        try:
            values = _parse_csv_chunk(chunk, n_cols)
        except _BadCell as bad:
            raise DataError(_bad_cell_message(path, first_line + row + bad.row, bad, n_cols)) from None
        labels[row : row + len(values)] = values[:, 0]
        images[row : row + len(values)] = values[:, 1:]
    return Split(images=images, labels=labels)


def _read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise open_error(path, error) from None


def _csv_body(path: Path, data: bytes) -> tuple[bytes, int]:
    """The data rows, without header, blanks, quotes or ``\\r``; and the file line they start on."""
    for junk in (b"\r", b" ", b"\t", b'"'):
        if junk in data:  # a quick scan saves a copy in the usual case
            data = data.replace(junk, b"")
    data, first_line = _skip_blank_lines(data, 1)
    if data and _is_header(data.partition(b"\n")[0]):
        data, first_line = _skip_blank_lines(data.partition(b"\n")[2], first_line + 1)
    data = data.rstrip(b"\n")
    if not data:
        raise DataError(f"{path}: empty CSV (no data rows)")
    return data, first_line


def _skip_blank_lines(data: bytes, line: int) -> tuple[bytes, int]:
    """``data`` without its leading blank lines, and the number of the line it now starts on."""
    rest = data.lstrip(b"\n")
    return rest, line + len(data) - len(rest)


def _is_header(line: bytes) -> bool:
    """A header names its columns: its first cell is no number, nor are most of the others
    (``label,pixel0,...`` or ``label,0,1,...,783``; but ``x,0,0,...`` is a data row gone wrong)."""
    first, *rest = line.split(b",")
    pixels = sum(cell.isdigit() and int(cell) <= 255 for cell in rest)
    return not first.lstrip(b"-").isdigit() and pixels < len(rest) / 2


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
    """Rows of comma-separated whole numbers -> (rows, n_cols) uint16; raises ``_BadCell``."""
    text = np.frombuffer(chunk, dtype=np.uint8)
    seps = np.flatnonzero((text == _COMMA) | (text == _NEWLINE))
    ends = np.append(seps, len(text))  # each cell ends at a separator or at the end
    _check_row_lengths(text, seps, n_cols)
    starts = np.concatenate(([0], seps + 1))
    digits = text - np.uint8(_ZERO)  # wraps around, so any non-digit lands above 9
    lengths = ends - starts
    bad = (lengths == 0) | (lengths > 3)  # 0-255 needs 1 to 3 digits
    stray = np.flatnonzero((digits > 9) & (text != _COMMA) & (text != _NEWLINE))
    bad[np.searchsorted(ends, stray)] = True
    values = _cell_values(digits, ends, lengths)
    limits = np.full(n_cols, 255, dtype=np.uint16)
    limits[0] = 9  # the label
    bad |= (values.reshape(-1, n_cols) > limits).reshape(-1)
    if bad.any():
        cell = int(np.argmax(bad))
        raise _BadCell(cell // n_cols, cell % n_cols, chunk[starts[cell] : ends[cell]].decode(errors="replace"))
    return values.reshape(-1, n_cols)


def _check_row_lengths(text: np.ndarray, seps: np.ndarray, n_cols: int) -> None:
    """Raise ``_BadCell`` (column None) at the first row without exactly ``n_cols`` cells."""
    row_ends = np.flatnonzero(text[seps] == _NEWLINE)  # index of the last cell of each row
    last_cells = np.concatenate(([-1], row_ends, [len(seps)]))
    counts = np.diff(last_cells)
    wrong = np.flatnonzero(counts != n_cols)
    if len(wrong):
        raise _BadCell(int(wrong[0]), None, str(counts[wrong[0]]))


def _cell_values(digits: np.ndarray, ends: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The value of each cell of up to three digits, read from its last three characters."""
    values = np.zeros(len(ends), dtype=np.uint16)
    for place in range(3):
        digit = digits.take(ends - 1 - place, mode="clip").astype(np.uint16)
        values += np.where(lengths > place, digit * np.uint16(10**place), np.uint16(0))
    return values


def _bad_cell_message(path: Path, line: int, bad: _BadCell, n_cols: int) -> str:
    if bad.column is None:
        return f"{path}: line {line} has {bad.text} columns, expected {n_cols} (a label, then {n_cols - 1} pixels)"
    what, allowed = ("label", "0-9") if bad.column == 0 else ("pixel", "0-255")
    where = f"{path}: line {line}, column {bad.column + 1}"
    if not bad.text:
        return f"{where}: empty cell"
    try:
        value = int(bad.text)
    except ValueError:
        return f"{where}: {bad.text[:20]!r} is not a number (expected a whole number {allowed})"
    return f"{where}: {what} {value} is outside {allowed}"
