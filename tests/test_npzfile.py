"""``purenet.io.archive.read_npz``: the one safe way purenet opens an ``.npz``.

Each test builds an archive with ``zipfile`` or NumPy, breaks one thing, and checks
that ``read_npz`` raises the error class it was given, with a one-line message that
starts with the file's path and says what is wrong; and that nothing else escapes.
"""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import PEAK_RESIDENT, has_peak_resident, traced_peak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from purenet.data import DataError
from purenet.io.archive import MAX_MEMBERS, MAX_NAME_LENGTH, read_npz


class MyError(ValueError):
    """Stands for the error class of another caller (checkpoints use their own)."""


def message_of(path: Path, error: type[Exception] = DataError) -> str:
    with pytest.raises(error) as info:
        read_npz(path, error)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and "\n" not in message, message
    return message


def npy_bytes(array: np.ndarray, allow_pickle: bool = False) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


def write_zip(path: Path, members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


# ----------------------------------------------------------------- what it reads


def test_reads_every_array_np_savez_writes(tmp_path):
    arrays = {
        "images": np.arange(60, dtype=np.uint8).reshape(3, 4, 5),
        "floats": np.linspace(0, 1, 7, dtype=np.float32),
        "big_endian": np.arange(5, dtype=">i4"),
        "fortran": np.asfortranarray(np.arange(12.0).reshape(3, 4)),
        "meta": np.array('{"format": "purenet-checkpoint"}'),  # 0-d text: what checkpoints keep
        "empty": np.zeros((0, 28)),
        "records": np.zeros(2, dtype=[("a", "<i2"), ("b", "<f4")]),
    }
    for save in (np.savez, np.savez_compressed):
        path = tmp_path / f"{save.__name__}.npz"
        save(path, **arrays)
        got = read_npz(path)
        assert set(got) == set(arrays)
        for key, array in arrays.items():
            assert got[key].dtype == array.dtype and got[key].shape == array.shape
            np.testing.assert_array_equal(got[key], array)
        assert got["fortran"].flags.f_contiguous


def test_reads_bzip2_and_lzma_members_and_an_empty_archive(tmp_path):
    array = np.arange(100, dtype=np.int16)
    for method in (zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA):
        path = write_zip(tmp_path / f"m{method}.npz", {"a.npy": npy_bytes(array)}, method)
        np.testing.assert_array_equal(read_npz(path)["a"], array)
    path = tmp_path / "nothing.npz"
    np.savez(path)
    assert read_npz(path) == {}


@pytest.mark.filterwarnings("ignore:Stored array in format 3.0")
def test_reads_a_version_3_header(tmp_path):
    array = np.zeros(3, dtype=[("λ", "<i4")])  # a field name outside latin-1 needs .npy version 3.0
    assert npy_bytes(array)[6:8] == b"\x03\x00"
    path = write_zip(tmp_path / "v3.npz", {"a.npy": npy_bytes(array)})
    assert read_npz(path)["a"].dtype.names == ("λ",)


# ----------------------------------------------------------------- the file itself


def test_not_a_zip(tmp_path):
    path = tmp_path / "x.npz"
    path.write_bytes(b"\x1f\x8b not a zip at all")
    assert "not an .npz file" in message_of(path)


def test_empty_file(tmp_path):
    path = tmp_path / "x.npz"
    path.write_bytes(b"")
    assert "empty file" in message_of(path)


def test_a_folder_and_a_fifo_are_refused_without_blocking(tmp_path):
    folder = tmp_path / "x.npz"
    folder.mkdir()
    assert "a folder" in message_of(folder)
    fifo = tmp_path / "pipe.npz"
    os.mkfifo(fifo)  # opening it for reading would wait for a writer
    assert "named pipe" in message_of(fifo)


def test_missing_and_unreadable_files(tmp_path, monkeypatch):
    assert "No such file" in message_of(tmp_path / "nowhere.npz")
    path = tmp_path / "locked.npz"
    np.savez(path, a=np.zeros(3))
    real_open = open

    def refusing_open(file, *args, **kwargs):
        if Path(file) == path:
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", refusing_open)
    assert "Permission denied" in message_of(path)


def test_truncated_archive(tmp_path):
    path = tmp_path / "x.npz"
    np.savez(path, a=np.arange(1000))
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])  # the central directory, at the end, is gone
    assert "not a readable .npz" in message_of(path)


def test_corrupt_data_fails_the_crc(tmp_path):
    path = tmp_path / "x.npz"
    np.savez(path, a=np.zeros(1000, dtype=np.uint8))
    raw = bytearray(path.read_bytes())
    raw[raw.index(b"\0" * 100) + 50] = 1  # one byte of the stored data
    path.write_bytes(bytes(raw))
    assert "CRC" in message_of(path)


def test_corrupt_deflate_stream(tmp_path):
    path = tmp_path / "x.npz"
    np.savez_compressed(path, a=np.arange(5000))
    raw = bytearray(path.read_bytes())
    start = raw.index(b"a.npy") + 5
    raw[start + 40 : start + 60] = b"\xff" * 20
    path.write_bytes(bytes(raw))
    assert "not a readable .npz" in message_of(path)


def test_the_error_class_is_the_callers(tmp_path):
    path = tmp_path / "x.npz"
    path.write_bytes(b"nonsense")
    with pytest.raises(MyError, match="not an .npz file"):
        read_npz(path, MyError)
    with pytest.raises(MyError, match="a folder"):
        read_npz(tmp_path, MyError)


# ----------------------------------------------------------------- members


def test_a_member_that_is_not_an_array(tmp_path):
    path = write_zip(tmp_path / "x.npz", {"images.npy": npy_bytes(np.zeros(3)), "README.txt": b"hello, these are digits"})
    assert "member 'README.txt' is not a NumPy array" in message_of(path)


def test_pickled_objects_are_never_unpickled(tmp_path, monkeypatch):
    import pickle

    objects = np.empty(2, dtype=object)
    objects[:] = [[1, 2], {"a": 3}]
    path = write_zip(tmp_path / "x.npz", {"images.npy": npy_bytes(objects, allow_pickle=True)})
    monkeypatch.setattr(pickle, "load", lambda *a, **k: pytest.fail("unpickled"))
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: pytest.fail("unpickled"))
    assert "'images' holds pickled objects" in message_of(path)
    records = np.zeros(2, dtype=[("a", "<i4"), ("b", object)])  # objects inside a structured dtype
    path = write_zip(tmp_path / "y.npz", {"r.npy": npy_bytes(records, allow_pickle=True)})
    assert "'r' holds pickled objects" in message_of(path)


def tampered_header(array: np.ndarray, shape: tuple[int, ...]) -> bytes:
    """The .npy of ``array`` with its header claiming ``shape`` (same header length)."""
    data = npy_bytes(array)
    header_length = struct.unpack("<H", data[8:10])[0]
    header = data[10 : 10 + header_length].decode("latin1")
    claimed = header.replace(repr(array.shape), repr(shape)).rstrip("\n ")
    claimed = claimed.ljust(header_length - 1) + "\n"
    assert len(claimed) == header_length
    return data[:10] + claimed.encode("latin1") + data[10 + header_length :]


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED], ids=["stored", "deflated"])
def test_a_header_claiming_terabytes_is_refused_before_allocating(tmp_path, compression):
    array = np.zeros((4, 5), dtype=np.float64)
    member = tampered_header(array, (1_000_000, 1_000_000))  # 8 TB of float64
    path = write_zip(tmp_path / "x.npz", {"w.npy": member}, compression)
    message, peak = traced_peak(lambda: message_of(path))
    assert "'w' claims more bytes than it holds" in message and "8000000000000 bytes" in message
    assert "(1000000, 1000000)" in message and "160 bytes" in message
    assert peak < 10 * 2**20


def test_a_header_claiming_less_than_the_member_holds(tmp_path):
    path = write_zip(tmp_path / "x.npz", {"w.npy": tampered_header(np.zeros((4, 5)), (2, 5))})
    assert "'w' claims fewer bytes than it holds" in message_of(path)


def test_an_unreadable_header(tmp_path):
    data = bytearray(npy_bytes(np.zeros(3)))
    data[10:20] = b"not a dict"
    path = write_zip(tmp_path / "x.npz", {"w.npy": bytes(data)})
    assert "'w' has an unreadable .npy header" in message_of(path)


def test_an_unknown_npy_version(tmp_path):
    data = bytearray(npy_bytes(np.zeros(3)))
    data[6] = 9
    path = write_zip(tmp_path / "x.npz", {"w.npy": bytes(data)})
    assert "version 9.0" in message_of(path)


def patch_central_directory(raw: bytes, offset: int, fmt: str, value: int) -> bytes:
    """Overwrite a field of the (first) central directory entry of a zip."""
    start = raw.index(b"PK\x01\x02")
    return raw[:start + offset] + struct.pack(fmt, value) + raw[start + offset + struct.calcsize(fmt) :]


def test_uncompressed_size_a_deflate_stream_cannot_hold(tmp_path):
    path = tmp_path / "x.npz"
    np.savez_compressed(path, w=np.zeros(100))
    path.write_bytes(patch_central_directory(path.read_bytes(), 24, "<I", 0xF0000000))  # uncompressed size
    message = message_of(path)
    assert "'w' claims 4026531840 bytes uncompressed" in message and "more than deflate can hold" in message


def test_compressed_size_past_the_end_of_the_file(tmp_path):
    path = tmp_path / "x.npz"
    np.savez(path, w=np.zeros(100))
    path.write_bytes(patch_central_directory(path.read_bytes(), 20, "<I", 10**9))  # compressed size
    assert "past the end of the file" in message_of(path)


def test_unsupported_compression_and_encryption(tmp_path):
    path = tmp_path / "x.npz"
    np.savez(path, w=np.zeros(10))
    raw = path.read_bytes()
    path.write_bytes(patch_central_directory(raw, 10, "<H", 9))  # deflate64: zipfile cannot read it
    assert "'w' uses compression method 9" in message_of(path)
    path.write_bytes(patch_central_directory(raw, 8, "<H", 0x1))  # the "encrypted" flag
    assert "'w' is encrypted" in message_of(path)


def test_duplicate_member_names(tmp_path):
    path = tmp_path / "x.npz"
    with pytest.warns(UserWarning), zipfile.ZipFile(path, "w") as archive:
        archive.writestr("w.npy", npy_bytes(np.zeros(3)))
        archive.writestr("w.npy", npy_bytes(np.ones(3)))
    assert "two members named 'w.npy'" in message_of(path)


def test_a_folder_member(tmp_path):
    path = write_zip(tmp_path / "x.npz", {"w.npy": npy_bytes(np.zeros(3)), "sub/": b""})
    assert "member 'sub/' is a folder" in message_of(path)


def test_absurd_member_names_and_counts(tmp_path):
    long_name = "w" * (MAX_NAME_LENGTH + 1) + ".npy"
    path = write_zip(tmp_path / "x.npz", {long_name: npy_bytes(np.zeros(1))})
    assert "characters long" in message_of(path)
    one = npy_bytes(np.zeros(0, dtype=np.uint8))
    path = write_zip(tmp_path / "many.npz", {f"{i}.npy": one for i in range(MAX_MEMBERS + 1)})
    assert f"{MAX_MEMBERS + 1} members" in message_of(path)


def test_an_end_record_announcing_millions_of_members(tmp_path):
    path = tmp_path / "x.npz"
    np.savez(path, w=np.zeros(3))
    raw = bytearray(path.read_bytes())
    end = raw.rindex(b"PK\x05\x06")
    raw[end + 8 : end + 12] = struct.pack("<HH", 0xFFFE, 0xFFFE)  # zipfile itself ignores these counts
    path.write_bytes(bytes(raw))
    assert "announces 65534 members" in message_of(path)


# ----------------------------------------------------------------- nothing else ever escapes


def small_archive(compressed: bool) -> bytes:
    buffer = io.BytesIO()
    save = np.savez_compressed if compressed else np.savez
    save(buffer, a=np.arange(40, dtype=np.uint8).reshape(4, 10), meta=np.array("text"))
    return buffer.getvalue()


ARCHIVES = {False: small_archive(False), True: small_archive(True)}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    compressed=st.booleans(),
    edits=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), min_size=1, max_size=4),
    cut=st.one_of(st.none(), st.floats(0, 1)),
)
def test_any_damage_gives_one_line_or_the_arrays(tmp_path, compressed, edits, cut):
    raw = bytearray(ARCHIVES[compressed])
    for where, value in edits:
        raw[int(where * len(raw))] = value
    if cut is not None:
        raw = raw[: int(cut * len(raw))]
    path = tmp_path / "damaged.npz"
    path.write_bytes(bytes(raw))
    try:
        arrays = read_npz(path, MyError)
    except MyError as error:
        assert str(error).startswith(f"{path}: ") and "\n" not in str(error)
    else:  # damage the CRC-32 cannot see (a member's name, a date) may leave a readable archive
        assert all(isinstance(array, np.ndarray) for array in arrays.values())


# ----------------------------------------------------------------- decompression bombs

from bombs import METHODS, archive, member, npy_header, stored  # noqa: E402 - the bombs are only for these tests

from purenet import init  # noqa: E402
from purenet.core.optim import make_optimizer  # noqa: E402
from purenet.io.archive import EXPANSION_FLOOR, NpzArchive  # noqa: E402
from purenet.runs.checkpoint import Checkpoint, save  # noqa: E402

BOMB = 2 * EXPANSION_FLOOR
"""What the bombs here expand to: 128 MiB of zeros from a few KB, a thousand times their size."""

SMALL_PEAK = 16 * 2**20
"""What reading (and refusing) any of them may allocate at most, as tracemalloc sees it."""


def refusal_and_peak(path: Path) -> tuple[str, int]:
    return traced_peak(lambda: message_of(path))


@pytest.mark.parametrize("method", METHODS)
def test_a_bomb_is_refused_before_any_member_is_decompressed(tmp_path, method):
    images = BOMB // 784
    path = tmp_path / "bomb.npz"
    path.write_bytes(archive([member("x_train", (images, 28, 28), np.uint8, METHODS[method]),
                              member("y_train", (images,), np.uint8, METHODS[method])]))
    assert path.stat().st_size < BOMB // 1000
    message, peak = refusal_and_peak(path)
    assert "times its size" in message and "decompression bomb" in message
    assert peak < SMALL_PEAK


@pytest.mark.parametrize("method", METHODS)
def test_a_member_that_expands_past_its_declared_size_is_stopped_there(tmp_path, method):
    """The directory and the header agree on 1,000 bytes; the stream goes on for 128 MiB."""
    declared = len(npy_header((1000,), np.uint8)) + 1000
    path = tmp_path / "liar.npz"
    path.write_bytes(archive([member("w", (1000,), np.uint8, METHODS[method], zeros=BOMB, declared=declared)]))
    message, peak = refusal_and_peak(path)
    assert f"'w' decompresses to more than the {declared} bytes its zip directory declares" in message
    assert peak < SMALL_PEAK


@pytest.mark.parametrize("method", METHODS)
def test_a_member_that_ends_before_its_declared_size_is_truncated(tmp_path, method):
    declared = len(npy_header((5000,), np.uint8)) + 5000
    path = tmp_path / "short.npz"
    path.write_bytes(archive([member("w", (5000,), np.uint8, METHODS[method], zeros=1000, declared=declared)]))
    assert "'w' is truncated" in message_of(path)


@pytest.mark.parametrize("method", METHODS)
def test_members_compressed_by_hand_read_back(tmp_path, method):
    """The reader decompresses each method itself: what it gives back is the zeros written."""
    path = tmp_path / "zeros.npz"
    path.write_bytes(archive([member("a", (300, 7), np.float32, METHODS[method]), member("b", (0,), np.uint8, METHODS[method])]))
    arrays = read_npz(path)
    assert arrays["a"].shape == (300, 7) and arrays["a"].dtype == np.float32 and not arrays["a"].any()
    assert arrays["b"].shape == (0,)


def test_an_lzma_dictionary_claiming_4_gib_costs_nothing(tmp_path):
    path = tmp_path / "x.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_LZMA) as archive_file:
        archive_file.writestr("w.npy", npy_bytes(np.arange(1000, dtype=np.int64)))
    raw = bytearray(path.read_bytes())
    properties = raw.index(b"w.npy") + len("w.npy") + 4  # after the version and the properties' size
    raw[properties + 1 : properties + 5] = struct.pack("<I", 0xFFFFFFFF)
    path.write_bytes(bytes(raw))
    assert np.array_equal(read_npz(path)["w"], np.arange(1000))


def test_an_archive_bigger_than_the_memory_available_is_refused_unread(tmp_path, monkeypatch):
    path = tmp_path / "x.npz"
    np.savez(path, w=np.zeros(3 * 2**20, dtype=np.uint8))
    monkeypatch.setattr("purenet.io.archive.available_memory", lambda: 2**20)
    assert "its arrays need 3.1 MB of memory; 1.0 MB is available" in message_of(path)


def test_an_archive_reads_its_headers_without_the_data(tmp_path):
    path = tmp_path / "x.npz"
    np.savez_compressed(path, w=np.zeros((50, 4), np.float64), t=np.array("text"))
    with NpzArchive(path, MyError) as archive_file:
        assert sorted(archive_file.keys()) == ["t", "w"]
        assert archive_file.header("w") == ((50, 4), np.dtype(np.float64))
        assert archive_file.declared_size("w") == 50 * 4 * 8 + 128
        assert archive_file.read("w").shape == (50, 4)


GIB_BOMB_IMAGES = 2**30 // 784 + 1  # a little over 1 GiB of 28x28 images


def peak_of_command(args: list[str], cwd: Path) -> tuple[int, str, int]:
    """(exit code, stderr, peak resident memory in bytes) of ``purenet ARGS`` run as a process
    of its own, which writes its own peak (``peak_resident_bytes``) to a file as it exits."""
    report = cwd / "peak.txt"
    script = PEAK_RESIDENT + f"""
import atexit, sys
atexit.register(lambda: open({str(report)!r}, "w").write(str(peak_resident_bytes())))
from purenet.cli.app import main
sys.argv[0] = "purenet"
main()
"""
    report.unlink(missing_ok=True)
    done = subprocess.run([sys.executable, "-c", script, *args], cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, env={**os.environ, "OPENBLAS_NUM_THREADS": "1"}, timeout=600)
    return done.returncode, done.stderr, int(report.read_text())


@pytest.mark.slow
@pytest.mark.skipif(not has_peak_resident, reason="reads the peak resident size from /proc")
@pytest.mark.parametrize("method", METHODS)
def test_a_gib_bomb_is_refused_by_the_command_line_in_little_memory(tmp_path, method):
    """The bombs of the issue: a data set of a few KB (bzip2, LZMA) or 1 MB (deflate) that
    expands to 1 GiB, one whose stream outgrows the size it declares by a GiB, and a
    checkpoint of a few KB to 1 MB whose weights expand to 1 GiB. Before the fix each made
    purenet allocate the GiB; now each is one line, the whole process under 300 MB."""
    kind = METHODS[method]
    (tmp_path / "bomb.npz").write_bytes(archive([member("x_train", (GIB_BOMB_IMAGES, 28, 28), np.uint8, kind),
                                                 member("y_train", (GIB_BOMB_IMAGES,), np.uint8, kind)]))
    code, stderr, peak = peak_of_command(["train", "--data", "bomb.npz", "--epochs", "1", "--out", "m.npz"], tmp_path)
    assert code == 2 and stderr.startswith("purenet: error: ") and "bomb.npz: " in stderr and stderr.count("\n") == 1, stderr
    assert peak < 300 * 2**20
    declared = len(npy_header((300, 28, 28), np.uint8)) + 300 * 784
    (tmp_path / "liar.npz").write_bytes(archive([
        member("x_train", (300, 28, 28), np.uint8, kind, zeros=GIB_BOMB_IMAGES * 784, declared=declared),
        member("y_train", (300,), np.uint8, kind)]))
    code, stderr, peak = peak_of_command(["train", "--data", "liar.npz", "--epochs", "1", "--out", "m.npz"], tmp_path)
    assert code == 2 and "decompresses to more than" in stderr and stderr.count("\n") == 1, stderr
    assert peak < 300 * 2**20
    assert not (tmp_path / "m.npz").exists()
    params = init([784, 16, 10], rng=0)
    save(tmp_path / "ck.npz", Checkpoint(params=params, opt_state=make_optimizer("sgd", 0.1).init(params), epoch=1,
                                         rng_state=np.random.default_rng(1).bit_generator.state))
    with np.load(tmp_path / "ck.npz") as real:
        members = [stored(key, real[key]) for key in real.files if key != "param.0.w"]
    (tmp_path / "ck.npz").write_bytes(archive([*members, member("param.0.w", (784, 2**28 // 784 + 1), np.float32, kind)]))
    code, stderr, peak = peak_of_command(["evaluate", "ck.npz", "--data", "liar.npz"], tmp_path)
    assert code == 2 and stderr.startswith("purenet: error: ck.npz: ") and stderr.count("\n") == 1, stderr
    assert peak < 300 * 2**20
