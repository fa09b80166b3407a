"""Checkpoints: exact round trips, atomic writes, and every kind of bad file refused."""

from __future__ import annotations

import json
import re
import zipfile

import numpy as np
import pytest

from purenet import Adam, backward, forward, init
from purenet.runs.checkpoint import Checkpoint, CheckpointError, load, save


@pytest.fixture
def checkpoint() -> Checkpoint:
    rng = np.random.default_rng(0)
    params = init([12, 8, 3], act="tanh", rng=rng)
    opt = Adam(1e-3)
    x, y = rng.random((4, 12), dtype=np.float32), np.array([0, 1, 2, 1])
    params, state = opt.update(params, backward(params, forward(params, x), y), opt.init(params))
    return Checkpoint(
        params=params, opt_state=state, epoch=3, rng_state=rng.bit_generator.state,
        history=[{"epoch": 1, "loss": 0.5}, {"epoch": 2, "loss": 0.25}], settings={"layers": [12, 8, 3], "lr": 1e-3},
    )


def arrays_of(path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as npz:
        return {key: npz[key] for key in npz.files}


def test_round_trip_is_exact(checkpoint, tmp_path):
    path = save(tmp_path / "m.npz", checkpoint)
    loaded = load(path)
    assert loaded == checkpoint  # records compare arrays by value
    assert [a.tobytes() for a in loaded.opt_state.slots[1].arrays()] == [a.tobytes() for a in checkpoint.opt_state.slots[1].arrays()]
    rng = np.random.default_rng()
    rng.bit_generator.state = loaded.rng_state
    expected = np.random.default_rng()
    expected.bit_generator.state = checkpoint.rng_state
    assert rng.integers(0, 2**62) == expected.integers(0, 2**62)


def test_saving_replaces_atomically_and_leaves_no_temp(checkpoint, tmp_path):
    path = tmp_path / "m.npz"
    path.write_bytes(b"old")
    save(path, checkpoint)
    assert load(path).epoch == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]


def test_a_failed_save_keeps_the_old_file(checkpoint, tmp_path, monkeypatch):
    path = tmp_path / "m.npz"
    save(path, checkpoint)
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        save(path, checkpoint)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]


def rewrite(path, change) -> None:
    """Load the arrays, let ``change`` edit the dict, save them back (not atomically: a test)."""
    arrays = arrays_of(path)
    change(arrays)
    np.savez(path, **arrays)


def nested(depth: int) -> list:
    value: list = [1]
    for _ in range(depth):
        value = [value]
    return value


def set_meta(arrays, **fields):
    meta = json.loads(str(arrays["meta"]))
    meta.update(fields)
    arrays["meta"] = np.array(json.dumps(meta))


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda a: a.pop("param.1.w"), "missing array 'param.1.w'"),
        (lambda a: a.update({"param.0.w": np.zeros((12, 7), np.float32)}), "expected float32[12, 8]"),
        (lambda a: a.update({"param.0.b": np.zeros(8, np.float64)}), "expected float32[8]"),
        (lambda a: a.update({"param.0.b": np.full(8, np.nan, np.float32)}), "NaN"),
        (lambda a: a.pop("slot.1.0.w"), "missing array 'slot.1.0.w'"),
        (lambda a: a.pop("meta"), "no purenet metadata"),
        (lambda a: a.update({"meta": np.array("{not json")}), "not valid JSON"),
        (lambda a: set_meta(a, version=99), "format version 99"),
        (lambda a: set_meta(a, arch={"sizes": [12, 3], "act": "tanh", "loss": "ce"}), "unexpected arrays ['param.1.b'"),
        (lambda a: set_meta(a, arch={"sizes": [12, 5, 3], "act": "tanh", "loss": "ce"}), "expected float32[12, 5]"),
        (lambda a: set_meta(a, epoch="three"), "metadata 'epoch' is 'three'"),
        (lambda a: set_meta(a, epoch=-1), "metadata 'epoch' is -1; expected >= 0"),
        (lambda a: set_meta(a, epoch=True), "metadata 'epoch' is True"),
        (lambda a: set_meta(a, epoch=2.5), "metadata 'epoch' is 2.5"),
        (lambda a: set_meta(a, opt_step=-3), "metadata 'opt_step' is -3"),
        (lambda a: set_meta(a, opt_slots=7), "metadata 'opt_slots' is 7; expected 0 to 2"),
        (lambda a: set_meta(a, opt_slots=1), "unexpected arrays ['slot.1.0.b'"),
        (lambda a: set_meta(a, dtype="float16"), "metadata 'dtype' is 'float16'; expected float32 or float64"),
        (lambda a: set_meta(a, dtype=["float32"]), "metadata 'dtype' is ['float32']"),
        (lambda a: set_meta(a, arch={"sizes": [12, 8, 3], "act": "swish", "loss": "ce"}), "metadata arch 'act' is 'swish'"),
        (lambda a: set_meta(a, arch={"sizes": [12, 8, 3], "act": "tanh", "loss": "hinge"}), "metadata arch 'loss' is 'hinge'"),
        (lambda a: set_meta(a, arch={"sizes": [12, 0, 3], "act": "tanh", "loss": "ce"}), "metadata arch 'sizes' is [12, 0, 3]"),
        (lambda a: set_meta(a, arch={"sizes": [12], "act": "tanh", "loss": "ce"}), "metadata arch 'sizes' is [12]"),
        (lambda a: set_meta(a, arch={"act": "tanh", "loss": "ce"}), "metadata lacks arch 'sizes'"),
        (lambda a: set_meta(a, arch="12-8-3"), "metadata 'arch' is '12-8-3'"),
        (lambda a: set_meta(a, rng_state={"bit_generator": "PCG64"}), "rng_state is not a valid PCG64 state"),
        (lambda a: set_meta(a, rng_state={"bit_generator": "Evil"}), "unknown bit generator 'Evil'"),
        (lambda a: set_meta(a, rng_state=None), "rng_state must be"),
        (lambda a: set_meta(a, history={"epoch": 1}), "metadata 'history' is {'epoch': 1}"),
        (lambda a: set_meta(a, history=[{"loss": "low"}]), "metadata 'history' holds 'loss': 'low'"),
        (lambda a: set_meta(a, settings=[1, 2]), "metadata 'settings' is [1, 2]"),
        (lambda a: set_meta(a, best={"epoch": 9, "val_acc": 0.5}), "metadata best 'epoch' is 9; expected 1 to 3"),
        (lambda a: set_meta(a, config={"lr": 0.1}), "the run's configuration is invalid: settings lack"),
        (lambda a: set_meta(a, history=nested(30)), "nested too deeply"),
        (lambda a: a.update({"meta": np.array("[" * 100_000 + "]" * 100_000)}), "nested too deeply"),
        (lambda a: a.update({"extra": np.zeros(3)}), "unexpected arrays ['extra']"),
        (lambda a: a.pop("meta") and a.update({"meta": np.array([1, 2])}), "no purenet metadata"),
        (lambda a: set_meta(a, format="someone-else"), "no purenet metadata"),
    ],
)
def test_malformed_contents_are_refused(checkpoint, tmp_path, change, message):
    path = save(tmp_path / "m.npz", checkpoint)
    rewrite(path, change)
    with pytest.raises(CheckpointError, match=re.escape(message)) as caught:
        load(path)
    assert str(path) in str(caught.value)


def test_a_truncated_file_is_refused(checkpoint, tmp_path):
    path = save(tmp_path / "m.npz", checkpoint)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="not a readable purenet checkpoint"):
        load(path)


def test_a_tampered_byte_is_caught_by_the_zip_checksum(checkpoint, tmp_path):
    path = save(tmp_path / "m.npz", checkpoint)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("param.0.w.npy")
    data[info.header_offset + 200] ^= 0xFF  # inside the stored weights
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=str(path)):
        load(path)


def test_pickled_objects_are_never_loaded(checkpoint, tmp_path):
    path = save(tmp_path / "m.npz", checkpoint)
    arrays = arrays_of(path)
    arrays["param.0.w"] = np.array([{"evil": 1}], dtype=object)
    np.savez(path, **arrays)
    with pytest.raises(CheckpointError, match="not a readable purenet checkpoint"):
        load(path)


@pytest.mark.parametrize("content", [b"", b"hello", b"\x93NUMPY"])
def test_not_an_npz_at_all(tmp_path, content):
    path = tmp_path / "m.npz"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="not an .npz file"):
        load(path)


def test_a_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint file"):
        load(tmp_path / "nope.npz")


# ----------------------------------------------------------------- decompression bombs

from bombs import METHODS, archive, member, npy_header, stored  # noqa: E402
from conftest import traced_peak  # noqa: E402

from purenet.runs.checkpoint import is_checkpoint  # noqa: E402


def with_member(path, key: str, bomb) -> None:
    """The checkpoint at ``path`` with member ``key`` replaced by ``bomb`` (the others stored)."""
    members = [stored(name, array) for name, array in arrays_of(path).items() if name != key]
    path.write_bytes(archive([*members, bomb]))


def refused_with_peak(path) -> tuple[str, int]:
    caught, peak = traced_peak(lambda: pytest.raises(CheckpointError, load, path))
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    return message, peak


@pytest.mark.parametrize("method", METHODS)
def test_an_array_bigger_than_the_network_needs_is_refused_before_it_is_decompressed(checkpoint, tmp_path, method):
    """60 MB of zeros where the network has a (12, 8) matrix: under the archive's expansion
    bound, refused by the shape the metadata says, with only the header decompressed."""
    path = save(tmp_path / "m.npz", checkpoint)
    with_member(path, "param.0.w", member("param.0.w", (12, 1_250_000), np.float32, METHODS[method]))
    message, peak = refused_with_peak(path)
    assert "array 'param.0.w' is float32[12, 1250000], expected float32[12, 8]" in message
    assert peak < 8 * 2**20


@pytest.mark.parametrize("method", METHODS)
def test_an_array_whose_stream_outgrows_its_declared_size_is_stopped(checkpoint, tmp_path, method):
    path = save(tmp_path / "m.npz", checkpoint)
    declared = len(npy_header((12, 8), np.float32)) + 12 * 8 * 4
    with_member(path, "param.0.w", member("param.0.w", (12, 8), np.float32, METHODS[method], zeros=60 * 2**20,
                                          declared=declared))
    message, peak = refused_with_peak(path)
    assert "not a readable purenet checkpoint" in message and "decompresses to more than" in message
    assert peak < 8 * 2**20


def test_an_array_declaring_more_bytes_than_its_shape_is_refused(checkpoint, tmp_path):
    path = save(tmp_path / "m.npz", checkpoint)
    header = len(npy_header((12, 8), np.float32))
    with_member(path, "param.0.w", member("param.0.w", (12, 8), np.float32, METHODS["deflate"], zeros=2**20,
                                          declared=header + 2**20))
    assert "'param.0.w' claims fewer bytes than it holds" in refused_with_peak(path)[0]


def test_metadata_declaring_megabytes_is_refused_unread(checkpoint, tmp_path):
    path = save(tmp_path / "m.npz", checkpoint)
    with_member(path, "meta", member("meta", (), "<U5000000", METHODS["bzip2"]))  # 20 MB of text
    message, peak = refused_with_peak(path)
    assert "its metadata declares 20000128 bytes; a checkpoint's is at most 16777216" in message
    assert peak < 8 * 2**20


@pytest.mark.parametrize("method", METHODS)
def test_is_checkpoint_reads_only_the_start_of_a_bomb(checkpoint, tmp_path, method):
    path = save(tmp_path / "m.npz", checkpoint)
    declared = len(npy_header((), "<U100")) + 400
    with_member(path, "meta", member("meta", (), "<U100", METHODS[method], zeros=60 * 2**20, declared=declared))
    ours, peak = traced_peak(lambda: is_checkpoint(path))
    assert not ours and peak < 8 * 2**20
