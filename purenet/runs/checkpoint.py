"""Checkpoints: one ``.npz`` holding everything a run needs to continue, without pickle.

    save(path, checkpoint)    writes atomically: a temp file in the same folder, then os.replace
    load(path) -> Checkpoint  read without pickle; every metadata field and array checked
    is_checkpoint(path)       whether ``path`` is a file purenet wrote as a checkpoint

Layout of the file: ``meta`` is a JSON string (format name and version, architecture,
dtype, epoch, optimizer step and slot count, RNG state, metrics history, the run's
configuration, free-form settings, the best epoch, and where known the data set's name,
its class names and the calibration); ``param.<layer>.<field>`` are the
params' learned arrays (``w`` and ``b`` for dense and convolution layers; layers
without learned arrays have none) and state arrays (BatchNorm's running averages ``mean``
and ``var``, saved with every record, so a file without BatchNorm layers has none);
``slot.<k>.<layer>.<field>`` the optimizer's k-th slot record (momentum's velocity,
Adam's moments); ``best.<layer>.<field>`` the best epoch's params when early stopping
keeps them. Which layers there are, and every array's shape, follow from the
architecture's layer list (``purenet.core.layers.plan_layers``), so the file is
checked against it before any array is used. Anything missing,
misshapen, out of range, of another version or not an npz at all raises
``CheckpointError`` naming the file.

Versions: 3 (layer lists with any registered layer kind) is written; 2 (dense only,
``config`` apart from ``settings``) and 1 (before that) still load. The layer list of
a run with ``dropout`` holds the Dropout layers it places (``RunConfig.network_layers``);
a file written before dropout was only a layer lacks them, and gets them on loading
(``_dropout_placed``): they hold no arrays, so the file's arrays are read as they are.

The data set's name (``data_name``), its class names (``classes``) and the calibration
(``calibration``: temperature, abstention score and threshold) were added to version 3
as metadata keys written only when set, the way BatchNorm's state arrays were: a file
without them is what purenet wrote before (a model of MNIST's digits, uncalibrated), and
purenet before them reads a file with them (it ignores metadata keys it does not know).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

import attrs
import numpy as np

from purenet.base.checks import cut, is_real, is_whole, shown
from purenet.core.activations import ACTIVATIONS
from purenet.core.arrays import learned_names, state_low, state_names
from purenet.core.calibration import SCORES, Calibration
from purenet.core.layers import plan_layers
from purenet.core.losses import LOSSES
from purenet.core.network import with_layers
from purenet.core.optim import OPTIMIZERS, OptState
from purenet.core.records import Arch, Best, Params, same_structure
from purenet.data.splits import class_names
from purenet.io.archive import NpzArchive
from purenet.io.reading import open_regular
from purenet.io.writing import atomic_write
from purenet.runs.config import OPTIONAL_IN_JSON, RUN_SETTINGS, ConfigError, RunConfig

FORMAT = "purenet-checkpoint"
FORMAT_VERSION = 3
READS_VERSIONS = (1, 2, 3)
ZIP_MAGIC = b"PK\x03\x04"
DTYPES = ("float32", "float64")
MAX_SLOTS = max(len(kind.SLOTS) for kind in OPTIMIZERS.values())
"""The most slot records an optimizer keeps (Adam's two moments): more in a file is tampering."""
MAX_JSON_DEPTH = 16
"""Deepest nesting of the metadata's JSON (the real thing is 4 deep); deeper is tampering."""
_QUOTED = 60
"""How many characters of a value a message quotes (a tampered value can be huge)."""
MAX_NAME = 64
"""The longest class or data set name a checkpoint may hold ("T-shirt/top" is 11 characters)."""


class CheckpointError(ValueError):
    """A checkpoint file is missing, unreadable, tampered with or of another shape."""


# --- the record, checked on construction ---------------------------------------------------


def _to_int(value: Any) -> int:
    return int(value) if isinstance(value, np.integer) else value


def _non_negative_int(_instance, attribute, value) -> None:
    if not is_whole(value, 0):
        raise ValueError(f"{attribute.name} must be a whole number >= 0, got {shown(value, _QUOTED)}")


def _json_value(_instance, attribute, value) -> None:
    try:
        json.dumps(value)
    except (TypeError, ValueError, RecursionError) as error:
        raise ValueError(f"{attribute.name} must be JSON-able (plain numbers, strings, lists, dicts): {error}") from None


def _mappings(_instance, attribute, value) -> None:
    """History: one mapping per epoch, of metric names to finite numbers (or None)."""
    for entry in value:
        if not isinstance(entry, Mapping) or not all(isinstance(key, str) for key in entry):
            raise ValueError(f"{attribute.name} must hold one mapping of metric names per epoch, got {shown(entry, _QUOTED)}")
        bad = [key for key, number in entry.items() if number is not None and not _number(number)]
        if bad:
            raise ValueError(f"{attribute.name} must hold finite numbers (or None), "
                             f"got {bad[0]}: {shown(entry[bad[0]], _QUOTED)}")


def check_rng_state(state: Any) -> None:
    """Raise ValueError unless ``state`` is a JSON-able state of one of NumPy's bit generators."""
    if not isinstance(state, Mapping) or not isinstance(state.get("bit_generator"), str):
        raise ValueError("rng_state must be a generator's bit_generator.state (a mapping naming its bit_generator)")
    kind = getattr(np.random, state["bit_generator"], None)
    if not (isinstance(kind, type) and issubclass(kind, np.random.BitGenerator)):
        raise ValueError(f"rng_state names an unknown bit generator {state['bit_generator']!r}")
    try:
        kind().state = dict(state)
        json.dumps(state)
    except (TypeError, ValueError, KeyError, OverflowError) as error:
        raise ValueError(f"rng_state is not a valid {state['bit_generator']} state ({error})") from None


@attrs.frozen
class Checkpoint:
    """A training run frozen after ``epoch`` epochs.

    ``rng_state`` is the training generator's ``bit_generator.state`` (so a resumed run
    draws the same shuffles); ``history`` one mapping of metrics per finished epoch;
    ``settings`` anything JSON-able a script wants to keep; ``best`` the best epoch on
    the validation split, kept when training stops early; ``config`` the ``RunConfig``
    of a run ``purenet train`` (or ``purenet.runs.config``) made, which ``--resume`` needs.
    Every field is checked here, so what ``save`` writes, ``load`` reads back.
    """

    params: Params = attrs.field(validator=attrs.validators.instance_of(Params))
    opt_state: OptState = attrs.field(validator=attrs.validators.instance_of(OptState))
    epoch: int = attrs.field(converter=_to_int, validator=_non_negative_int)
    rng_state: Mapping[str, Any] = attrs.field()
    history: tuple[Mapping[str, Any], ...] = attrs.field(converter=tuple, default=(), validator=_mappings)
    settings: Mapping[str, Any] = attrs.field(factory=dict, validator=[attrs.validators.instance_of(Mapping), _json_value])
    best: Best | None = attrs.field(default=None, validator=attrs.validators.optional(attrs.validators.instance_of(Best)))
    config: RunConfig | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.instance_of(RunConfig)))
    data_name: str | None = attrs.field(default=None, validator=lambda _i, _a, v: v is None or _check_name("data_name", v))
    classes: tuple[str, ...] | None = attrs.field(default=None, converter=attrs.converters.optional(tuple))
    calibration: Calibration | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.instance_of(Calibration)))

    @rng_state.validator
    def _check_rng(self, _attribute, value) -> None:
        check_rng_state(value)

    def __attrs_post_init__(self) -> None:
        _check_structure(self)

    @property
    def model(self) -> Params:
        """The params to use the model with: the best epoch's under early stopping, else the last."""
        return self.best.params if self.best is not None else self.params

    @property
    def class_names(self) -> tuple[str, ...]:
        """The name of each output, output 0 first: ``classes``, else the outputs' numbers (MNIST's digits)."""
        return class_names(self.classes, self.params.arch.classes)


def _check_name(what: str, value: Any) -> None:
    """A name shown in tables and pages: a string of 1 to MAX_NAME printable characters."""
    if not isinstance(value, str) or not 0 < len(value) <= MAX_NAME or not value.isprintable():
        raise ValueError(f"{what} must be a string of 1 to {MAX_NAME} printable characters, got {shown(value, _QUOTED)}")


def _check_structure(checkpoint: Checkpoint) -> None:
    """Slots and best params shaped like the params; a config that describes them."""
    params = checkpoint.params
    if str(params.dtype) not in DTYPES:
        raise ValueError(f"params must be float32 or float64, got {params.dtype}")
    if not 0 <= checkpoint.opt_state.step or len(checkpoint.opt_state.slots) > MAX_SLOTS:
        raise ValueError("opt_state must have a step >= 0 and at most two slots")
    others = [*checkpoint.opt_state.slots, *([checkpoint.best.params] if checkpoint.best else [])]
    for record in others:
        if not same_structure(record, params):
            raise ValueError("optimizer slots and best params must be shaped like the params")
    if checkpoint.classes is not None:
        for name in checkpoint.classes:
            _check_name("a class name", name)
        if len(checkpoint.classes) != params.arch.classes:
            raise ValueError(f"{len(checkpoint.classes)} class names for a network of {params.arch.classes} outputs")
        if len(set(checkpoint.classes)) != len(checkpoint.classes):
            raise ValueError("class names must differ from each other")
    if checkpoint.calibration is not None and params.arch.loss != "ce":
        raise ValueError(f"a calibration needs the ce loss (softmax outputs), not {params.arch.loss}")
    config = checkpoint.config
    if config is not None:
        arch = params.arch
        if (config.network_layers, config.act, config.loss) != (arch.layers, arch.act, arch.loss):
            raise ValueError(f"config describes {config.network_layers} {config.act} {config.loss}, the params {arch}")
        if config.slots != len(checkpoint.opt_state.slots):
            raise ValueError(f"config's optimizer {config.optimizer} keeps {config.slots} slots, "
                             f"opt_state has {len(checkpoint.opt_state.slots)}")


# --- writing ---------------------------------------------------------------------------------


def save(path: str | os.PathLike, checkpoint: Checkpoint) -> Path:
    """Write ``checkpoint`` to ``path`` atomically; a crash never leaves a half-written file."""
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
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "arch": {"sizes": list(arch.layers), "act": arch.act, "loss": arch.loss},  # the file names Arch.layers "sizes"
        "dtype": str(checkpoint.params.dtype),
        "epoch": checkpoint.epoch,
        "opt_step": checkpoint.opt_state.step,
        "opt_slots": len(checkpoint.opt_state.slots),
        "rng_state": dict(checkpoint.rng_state),
        "history": [dict(entry) for entry in checkpoint.history],
        "settings": dict(checkpoint.settings),
        "config": None if checkpoint.config is None else checkpoint.config.to_json(),
        "best": None if checkpoint.best is None else {"epoch": checkpoint.best.epoch, "val_acc": checkpoint.best.val_acc},
        **({} if checkpoint.data_name is None else {"data_name": checkpoint.data_name}),
        **({} if checkpoint.classes is None else {"classes": list(checkpoint.classes)}),
        **({} if checkpoint.calibration is None else {"calibration": checkpoint.calibration.to_json()}),
    }


def _record_arrays(prefix: str, record: Params) -> dict[str, np.ndarray]:
    arrays = {}
    for i, layer in enumerate(record.layers):
        for name in learned_names(type(layer)) + state_names(type(layer)):
            arrays[f"{prefix}.{i}.{name}"] = np.asarray(getattr(layer, name))
    return arrays


# --- reading ---------------------------------------------------------------------------------


def is_checkpoint(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a regular file whose metadata says purenet wrote it as a checkpoint
    (its arrays are not read: a damaged checkpoint of ours is still ours to replace). Only
    the start of the metadata is decompressed, a bounded piece: never a bomb's gigabytes."""
    try:
        with NpzArchive(path, CheckpointError) as archive:
            if "meta" not in archive:
                return False
            header = archive.head("meta", 1 << 16)
    except (CheckpointError, OSError):
        return False
    return f'"format": "{FORMAT}"'.encode("utf-32-le") in header


def load(path: str | os.PathLike) -> Checkpoint:
    """Read and validate the checkpoint at ``path``; ``CheckpointError`` names what is wrong."""
    path = Path(path)
    with open_regular(path, CheckpointError, expected="a checkpoint file", problem=_unreadable) as handle:
        head = handle.read(4)
    if head != ZIP_MAGIC:
        raise CheckpointError(f"{path}: not an .npz file (a purenet checkpoint is a zip archive of arrays)")
    try:
        with NpzArchive(path, _Unreadable) as archive:
            return _from_archive(archive)
    except _Unreadable as error:
        detail = str(error).removeprefix(f"{path}: ")
        raise CheckpointError(f"{path}: not a readable purenet checkpoint ({detail})") from None
    except CheckpointError as error:
        raise CheckpointError(f"{path}: {error}") from None


def _unreadable(error: OSError) -> str:
    if isinstance(error, FileNotFoundError):
        return "no such checkpoint file"
    return f"cannot read ({error.strerror or error})"


class _Unreadable(CheckpointError):
    """The archive itself is damaged (its path starts the message), as opposed to its content."""


MAX_META_BYTES = 16 * 2**20
"""The largest metadata member read: its JSON is kept as UTF-32, some 1 KB per epoch of history."""

def _from_archive(archive: NpzArchive) -> Checkpoint:
    """The checkpoint in ``archive``: the metadata first, which says which arrays there must
    be and their shapes; each array's header (and through it the size the zip declares) is
    checked against those before its data is decompressed, so a tampered or bomb member never costs more than the
    network it claims to belong to."""
    meta = _read_meta(_meta_member(archive))
    arch = _read_arch(meta)
    dtype = np.dtype(_field(meta, "dtype", str, lambda v: v in DTYPES, "float32 or float64"))
    slots = _field(meta, "opt_slots", int, lambda v: 0 <= v <= MAX_SLOTS, f"0 to {MAX_SLOTS}")
    has_best = meta.get("best") is not None
    expected = _expected_shapes(arch, slots, has_best)
    unexpected = sorted(set(archive.keys()) - set(expected) - {"meta"})
    if unexpected:
        raise CheckpointError(f"unexpected arrays {unexpected[:5]}")
    arrays = {key: _member(archive, key, shape, dtype) for key, shape in expected.items() if key in archive}
    return _from_arrays(meta, arch, dtype, slots, has_best, arrays)


def _meta_member(archive: NpzArchive) -> np.ndarray | None:
    if "meta" not in archive:
        return None
    if archive.declared_size("meta") > MAX_META_BYTES:
        raise CheckpointError(f"its metadata declares {archive.declared_size('meta')} bytes; "
                              f"a checkpoint's is at most {MAX_META_BYTES}")
    return archive.read("meta")


def _member(archive: NpzArchive, key: str, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """Array ``key``, once its header matches ``dtype`` and ``shape`` (``header`` has checked
    it against the size the zip declares, and ``read`` decompresses no more than that)."""
    found_shape, found_dtype = archive.header(key)
    if found_shape != shape or found_dtype != dtype:
        raise CheckpointError(f"array {key!r} is {cut(str(found_dtype), 40)}{list(found_shape)}, expected {dtype}{list(shape)}")
    return archive.read(key)


def _from_arrays(meta: dict, arch: Arch, dtype: np.dtype, slots: int, has_best: bool,
                 arrays: dict[str, np.ndarray]) -> Checkpoint:
    params = _read_record(arrays, "param", arch, dtype)
    state = OptState(step=_field(meta, "opt_step", int, lambda v: v >= 0, ">= 0"),
                     slots=[_read_record(arrays, f"slot.{k}", arch, dtype) for k in range(slots)])
    epoch = _field(meta, "epoch", int, lambda v: v >= 0, ">= 0")
    best = _read_best(meta, arrays, arch, dtype, epoch) if has_best else None
    config, settings = _read_config(meta)
    try:
        params, state, best = _dropout_placed(config, params, state, best)
        return Checkpoint(params=params, opt_state=state, epoch=epoch, rng_state=meta.get("rng_state"),
                          history=_read_history(meta), settings=settings, best=best, config=config,
                          data_name=_read_data_name(meta), classes=_read_classes(meta), calibration=_read_calibration(meta))
    except (ValueError, TypeError) as error:
        raise CheckpointError(f"malformed metadata ({error})") from None


def _dropout_placed(config: RunConfig | None, params: Params, state: OptState,
                    best: Best | None) -> tuple[Params, OptState, Best | None]:
    """The records of a run whose ``dropout`` the network applied itself (before it was only a
    layer): its layer list is the config's ``layers``, without the Dropout layers that
    ``network_layers`` places. They get them, where the network applied it; the learned
    arrays stay as read. Any other records are returned as they are."""
    if config is None or params.arch.layers != config.layers or config.network_layers == config.layers:
        return params, state, best
    def placed(record: Params) -> Params:
        return with_layers(record, config.network_layers)

    state = attrs.evolve(state, slots=[placed(slot) for slot in state.slots])
    return placed(params), state, None if best is None else attrs.evolve(best, params=placed(best.params))


def _read_meta(meta: np.ndarray | None) -> dict:
    if meta is None or meta.dtype.kind != "U" or meta.ndim != 0:
        raise CheckpointError("no purenet metadata (is this a purenet checkpoint?)")
    try:
        parsed = json.loads(str(meta))
    except json.JSONDecodeError as error:
        raise CheckpointError(f"metadata is not valid JSON ({error})") from None
    except RecursionError:
        raise CheckpointError(f"metadata is nested too deeply (over {MAX_JSON_DEPTH} levels)") from None
    if not isinstance(parsed, dict) or parsed.get("format") != FORMAT:
        raise CheckpointError("no purenet metadata (is this a purenet checkpoint?)")
    if parsed.get("version") not in READS_VERSIONS:
        raise CheckpointError(f"format version {parsed.get('version')!r}, this purenet reads versions {READS_VERSIONS}")
    if _depth(parsed) > MAX_JSON_DEPTH:
        raise CheckpointError(f"metadata is nested too deeply (over {MAX_JSON_DEPTH} levels)")
    return parsed


def _depth(value: Any) -> int:
    """How deeply ``value`` nests lists and dicts (iteratively: a tampered file cannot recurse us out)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, level)
            if level <= MAX_JSON_DEPTH:
                stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def _field(meta: Mapping, key: str, kind: type, ok, expected: str, where: str = "") -> Any:
    """``meta[key]``, which must be of ``kind`` (bool is no int; an int too big for int64 or a
    float is no number either) and satisfy ``ok``."""
    if key not in meta:
        raise CheckpointError(f"metadata lacks {where}{key!r}")
    value = meta[key]
    if kind in (int, float) and _number(value):
        right_kind = kind is float or isinstance(value, int)
        value = float(value) if kind is float else value
    else:
        right_kind = isinstance(value, kind) and not isinstance(value, (int, float))
    if not right_kind or not ok(value):
        raise CheckpointError(f"metadata {where}{key!r} is {shown(value, _QUOTED)}; expected {expected}")
    return value


def _number(value: Any) -> bool:
    """A JSON number a checkpoint may hold: an int within int64, or a finite float."""
    return is_whole(value) or (isinstance(value, float) and is_real(value))


MAX_TOKEN = 64
"""The longest layer token a checkpoint may hold (the real ones are a dozen characters)."""


def _read_arch(meta: Mapping) -> Arch:
    arch = _field(meta, "arch", dict, lambda v: True, "an object")
    tokens_ok = meta["version"] >= 3
    sizes = _field(arch, "sizes", list, lambda v: len(v) >= 2 and all(_token(n, tokens_ok) for n in v),
                   "at least two positive whole numbers" + (" or layer names" if tokens_ok else ""), "arch ")
    act = _field(arch, "act", str, lambda v: v in ACTIVATIONS, f"one of {', '.join(ACTIVATIONS)}", "arch ")
    loss = _field(arch, "loss", str, lambda v: v in LOSSES, f"one of {', '.join(LOSSES)}", "arch ")
    try:
        built = Arch(layers=sizes, act=act, loss=loss)
    except ValueError as error:
        raise CheckpointError(f"metadata 'arch' is not a network purenet can build: {error}") from None
    if built.layers != tuple(sizes):
        raise CheckpointError(f"metadata 'arch sizes' {shown(sizes, _QUOTED)} is not in canonical form")
    return built


def _token(value: Any, tokens_ok: bool) -> bool:
    if tokens_ok and isinstance(value, str):
        return 0 < len(value) <= MAX_TOKEN
    return _positive_int(value)


def _positive_int(value: Any) -> bool:
    return is_whole(value, 1)


def _expected_shapes(arch: Arch, slots: int, has_best: bool) -> dict[str, tuple[int, ...]]:
    """Every array the checkpoint must hold, by key, and its shape."""
    prefixes = ["param", *(f"slot.{k}" for k in range(slots)), *(["best"] if has_best else [])]
    return {f"{prefix}.{i}.{name}": tuple(shape) for prefix in prefixes
            for i, planned in enumerate(plan_layers(arch.layers))
            for name, shape in {**planned.plan.shapes, **planned.plan.state}.items()}


def _read_record(arrays: dict[str, np.ndarray], prefix: str, arch: Arch, dtype: np.dtype) -> Params:
    layers = []
    for i, planned in enumerate(plan_layers(arch.layers)):
        learned = {name: _read_array(arrays, f"{prefix}.{i}.{name}", shape, dtype) for name, shape in planned.plan.shapes.items()}
        carried = {name: _read_state(arrays, f"{prefix}.{i}.{name}", shape, dtype, state_low(planned.kind.record, name))
                   for name, shape in planned.plan.state.items()}
        layers.append(planned.kind.record(**planned.plan.static, **learned, **carried))
    return Params(arch=arch, layers=layers)


def _read_state(arrays: dict[str, np.ndarray], key: str, shape: tuple[int, ...], dtype: np.dtype,
                low: float | None) -> np.ndarray:
    """A state array (BatchNorm's running averages), checked as a learned one and against its least value."""
    array = _read_array(arrays, key, shape, dtype)
    if low is not None and (array < low).any():
        raise CheckpointError(f"array {key!r} holds values below {low}")
    return array


def _read_array(arrays: dict[str, np.ndarray], key: str, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    if key not in arrays:
        raise CheckpointError(f"missing array {key!r}")
    array = arrays[key]
    if array.shape != shape or array.dtype != dtype:
        raise CheckpointError(f"array {key!r} is {array.dtype}{list(array.shape)}, expected {dtype}{list(shape)}")
    if not np.isfinite(array).all():
        raise CheckpointError(f"array {key!r} holds NaN or infinite values")
    return array


def _read_best(meta: Mapping, arrays: dict[str, np.ndarray], arch: Arch, dtype: np.dtype, epoch: int) -> Best:
    best = _field(meta, "best", dict, lambda v: True, "an object or null")
    best_epoch = _field(best, "epoch", int, lambda v: 1 <= v <= epoch, f"1 to {epoch}", "best ")
    val_acc = _field(best, "val_acc", float, lambda v: 0 <= v <= 1, "a number from 0 to 1", "best ")
    return Best(epoch=best_epoch, val_acc=val_acc, params=_read_record(arrays, "best", arch, dtype))


def _read_history(meta: Mapping) -> list[dict]:
    history = _field(meta, "history", list, lambda v: all(isinstance(h, dict) for h in v), "a list of objects")
    for entry in history:
        for key, value in entry.items():
            if value is not None and not _number(value):
                raise CheckpointError(f"metadata 'history' holds {key!r}: {shown(value, _QUOTED)}; expected finite numbers")
    return history


def _read_config(meta: Mapping) -> tuple[RunConfig | None, dict]:
    """(config, settings). Version 1 kept a run's settings in ``settings``: they become the config."""
    settings = _field(meta, "settings", dict, lambda v: True, "an object")
    stored = meta.get("config")
    if meta["version"] == 1 and set(RUN_SETTINGS) - OPTIONAL_IN_JSON <= set(settings):
        stored = {**settings, "data": _absolute(settings.get("data"))}
    if stored is None:
        return None, settings
    try:
        return RunConfig.from_json(stored), settings
    except ConfigError as error:
        raise CheckpointError(f"the run's configuration is invalid: {error}") from None
    except TypeError as error:
        raise CheckpointError(f"the run's configuration is malformed ({error})") from None


def _absolute(data: Any) -> Any:
    """Version 1 stored the data path as typed; read a relative one as the current folder's."""
    return os.path.abspath(data) if isinstance(data, str) and data else data


def _read_data_name(meta: Mapping) -> str | None:
    if meta.get("data_name") is None:
        return None
    return _field(meta, "data_name", str, lambda v: 0 < len(v) <= MAX_NAME and v.isprintable(),
                  f"a name of 1 to {MAX_NAME} printable characters")


def _read_classes(meta: Mapping) -> tuple[str, ...] | None:
    """The class names (None: a file of before them, or a model of digits)."""
    if meta.get("classes") is None:
        return None
    names = _field(meta, "classes", list, lambda v: all(isinstance(n, str) and 0 < len(n) <= MAX_NAME and n.isprintable()
                                                        for n in v), f"a list of names of 1 to {MAX_NAME} printable characters")
    return tuple(names)


def _read_calibration(meta: Mapping) -> Calibration | None:
    if meta.get("calibration") is None:
        return None
    stored = _field(meta, "calibration", dict, lambda v: True, "an object or null")
    where = "calibration "
    threshold = None if stored.get("threshold", 0) is None else _field(stored, "threshold", float, lambda v: True,
                                                                       "a finite number or null", where)
    return Calibration(
        temperature=_field(stored, "temperature", float, lambda v: v > 0, "a number above 0", where),
        score=_field(stored, "score", str, lambda v: v in SCORES, f"one of {', '.join(SCORES)}", where),
        threshold=threshold,
        keep=_field(stored, "keep", float, lambda v: 0 < v <= 1, "a number in (0, 1]", where),
        samples=_field(stored, "samples", int, lambda v: v >= 0, ">= 0", where))
