"""Checkpoints: one ``.npz`` holding everything a run needs to continue, without pickle.

    save(path, checkpoint)   writes atomically: a temp file in the same folder, then os.replace
    load(path) -> Checkpoint  np.load(allow_pickle=False), every key and shape validated

Layout of the file: ``meta`` is a JSON string (format version, architecture, epoch,
optimizer step, RNG state, metrics history, the run's settings); ``param.<layer>.<w|b>``
are the params; ``slot.<k>.<layer>.<w|b>`` the optimizer's k-th slot record
(momentum's velocity, Adam's moments); ``best.<layer>.<w|b>`` the best epoch's
params when early stopping keeps them. Anything missing, misshapen, of another
version or not an npz at all raises ``CheckpointError`` naming the file.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any, Mapping

import attrs
import numpy as np

from purenet.files import atomic_write
from purenet.optim import OptState
from purenet.records import Arch, Dense, Params
from purenet.training import Best

FORMAT_VERSION = 1
ZIP_MAGIC = b"PK\x03\x04"


class CheckpointError(ValueError):
    """A checkpoint file is missing, unreadable, tampered with or of another shape."""


@attrs.frozen
class Checkpoint:
    """A training run frozen after ``epoch`` epochs.

    ``rng_state`` is the training generator's ``bit_generator.state`` (so a resumed run
    draws the same shuffles); ``history`` one mapping of metrics per finished epoch;
    ``settings`` whatever the caller needs to rebuild the run (JSON-able); ``best``
    the best epoch on the validation split, kept when training stops early.
    """

    params: Params
    opt_state: OptState
    epoch: int
    rng_state: Mapping[str, Any]
    history: tuple[Mapping[str, Any], ...] = attrs.field(converter=tuple, default=())
    settings: Mapping[str, Any] = attrs.field(factory=dict)
    best: Best | None = None

    @property
    def model(self) -> Params:
        """The params to use the model with: the best epoch's under early stopping, else the last."""
        return self.best.params if self.best is not None else self.params


def save(path: str | os.PathLike, checkpoint: Checkpoint) -> Path:
    """Write ``checkpoint`` to ``path`` atomically; a crash never leaves a half-written file."""
    path = Path(path)
    arrays = {"meta": np.array(json.dumps(_meta(checkpoint)))}
    arrays.update(_record_arrays("param", checkpoint.params))
    for k, slot in enumerate(checkpoint.opt_state.slots):
        arrays.update(_record_arrays(f"slot.{k}", slot))
    if checkpoint.best is not None:
        arrays.update(_record_arrays("best", checkpoint.best.params))
    return atomic_write(path, lambda handle: np.savez(handle, **arrays))


def _meta(checkpoint: Checkpoint) -> dict:
    arch = checkpoint.params.arch
    return {
        "format": "purenet-checkpoint",
        "version": FORMAT_VERSION,
        "arch": {"sizes": list(arch.sizes), "act": arch.act, "loss": arch.loss},
        "dtype": str(checkpoint.params.dtype),
        "epoch": checkpoint.epoch,
        "opt_step": checkpoint.opt_state.step,
        "opt_slots": len(checkpoint.opt_state.slots),
        "rng_state": checkpoint.rng_state,
        "history": list(checkpoint.history),
        "settings": dict(checkpoint.settings),
        "best": None if checkpoint.best is None else {"epoch": checkpoint.best.epoch, "val_acc": checkpoint.best.val_acc},
    }


def _record_arrays(prefix: str, record: Params) -> dict[str, np.ndarray]:
    arrays = {}
    for i, layer in enumerate(record.layers):
        arrays[f"{prefix}.{i}.w"] = np.asarray(layer.w)
        arrays[f"{prefix}.{i}.b"] = np.asarray(layer.b)
    return arrays


def load(path: str | os.PathLike) -> Checkpoint:
    """Read and validate the checkpoint at ``path``."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    with open(path, "rb") as handle:
        if handle.read(4) != ZIP_MAGIC:
            raise CheckpointError(f"{path}: not an .npz file (a purenet checkpoint is a zip archive of arrays)")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as error:
        raise CheckpointError(f"{path}: not a readable purenet checkpoint ({error})") from None
    try:
        return _from_arrays(arrays)
    except CheckpointError as error:
        raise CheckpointError(f"{path}: {error}") from None


def _from_arrays(arrays: dict[str, np.ndarray]) -> Checkpoint:
    meta = _read_meta(arrays)
    try:
        arch = Arch(sizes=meta["arch"]["sizes"], act=meta["arch"]["act"], loss=meta["arch"]["loss"])
        params = _read_record(arrays, "param", arch, np.dtype(meta["dtype"]))
        slots = [_read_record(arrays, f"slot.{k}", arch, params.dtype) for k in range(int(meta["opt_slots"]))]
        best = meta.get("best")
        if best is not None:
            best = Best(epoch=int(best["epoch"]), val_acc=float(best["val_acc"]), params=_read_record(arrays, "best", arch, params.dtype))
        return Checkpoint(
            params=params,
            opt_state=OptState(step=int(meta["opt_step"]), slots=slots),
            epoch=int(meta["epoch"]),
            rng_state=meta["rng_state"],
            history=meta["history"],
            settings=meta["settings"],
            best=best,
        )
    except (KeyError, TypeError, ValueError) as error:
        if isinstance(error, CheckpointError):
            raise
        raise CheckpointError(f"malformed metadata ({error!r})") from None


def _read_meta(arrays: dict[str, np.ndarray]) -> dict:
    if "meta" not in arrays or arrays["meta"].dtype.kind != "U" or arrays["meta"].ndim != 0:
        raise CheckpointError("no purenet metadata (is this a purenet checkpoint?)")
    try:
        meta = json.loads(str(arrays["meta"]))
    except json.JSONDecodeError as error:
        raise CheckpointError(f"metadata is not valid JSON ({error})") from None
    if not isinstance(meta, dict) or meta.get("format") != "purenet-checkpoint":
        raise CheckpointError("no purenet metadata (is this a purenet checkpoint?)")
    if meta.get("version") != FORMAT_VERSION:
        raise CheckpointError(f"format version {meta.get('version')!r}, this purenet reads version {FORMAT_VERSION}")
    return meta


def _read_record(arrays: dict[str, np.ndarray], prefix: str, arch: Arch, dtype: np.dtype) -> Params:
    layers = []
    for i, (fan_in, fan_out) in enumerate(zip(arch.sizes[:-1], arch.sizes[1:])):
        w = _read_array(arrays, f"{prefix}.{i}.w", (fan_in, fan_out), dtype)
        b = _read_array(arrays, f"{prefix}.{i}.b", (fan_out,), dtype)
        layers.append(Dense(w=w, b=b))
    return Params(arch=arch, layers=layers)


def _read_array(arrays: dict[str, np.ndarray], key: str, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    if key not in arrays:
        raise CheckpointError(f"missing array {key!r}")
    array = arrays[key]
    if array.shape != shape or array.dtype != dtype:
        raise CheckpointError(f"array {key!r} is {array.dtype}{list(array.shape)}, expected {dtype}{list(shape)}")
    if not np.isfinite(array).all():
        raise CheckpointError(f"array {key!r} holds NaN or infinite values")
    return array
