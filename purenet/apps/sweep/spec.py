"""A sweep file (TOML), read and checked before any trial runs: ``read_spec(path) -> SweepSpec``.

    base = "default"                 # a preset: the recipe the trials start from
    trials = 20                      # how many trials finish (complete, pruned or failed)
    search = "tpe"                   # grid, random or tpe
    objective = "val_acc"            # val_acc (maximised) or val_loss (minimised); never the test set
    seeds = [0]                      # each trial's seed; with several, the seed is searched like a setting
    pruner = "median"                # median (stop a trial whose epoch is below the median) or none

    [settings]                       # settings every trial has (RunConfig names), on top of the base
    layers = "784,32,10"
    epochs = 2
    val_fraction = 0.1               # the split trials are scored on (0.1 when neither base nor here sets it)
    data = "data/mnist"              # relative to the sweep file's folder

    [vary]                           # the settings searched
    lr = {log = [1e-4, 1e-2]}        # a range searched on a log scale
    dropout = {range = [0.0, 0.5]}   # a range; {range = [32, 256], step = 32} for whole numbers
    act = ["relu", "tanh"]           # choices (or {choices = [...]})

Every mistake is a ``SpecError`` whose one-line message starts with the key
(``vary.lr: ...``). The values are checked by ``RunConfig`` itself: each choice, and
each end of a range, is made into the config of a trial and must be one.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path
from typing import Any, Mapping

import attrs

from purenet.runs.config import AUGMENTATIONS, PRESET_ALIASES, PRESETS, RUN_SETTINGS, ConfigError, RunConfig, preset

SEARCHES = ("grid", "random", "tpe")
OBJECTIVES = {"val_acc": "maximize", "val_loss": "minimize"}
PRUNERS = ("median", "none")
TOP_KEYS = ("base", "trials", "search", "objective", "seeds", "pruner", "sampler_seed", "settings", "vary")
NOT_VARIED = {
    "data": "the data is the same for every trial: set it in [settings]",
    "val_fraction": "every trial is scored on the same split: set it in [settings]",
    "seed": "give the seeds as seeds = [0, 1, 2] at the top",
}
DEFAULT_VAL_FRACTION = 0.1
"""The validation split of a sweep whose base and settings hold none out."""

MAX_TRIALS = 100_000


class SpecError(ValueError):
    """A sweep file's mistake, in one line that starts with the key it is about."""


@attrs.frozen
class Dimension:
    """One searched setting: ``kind`` is "choice" (``choices``), "range" or "log" (``low`` to
    ``high``, whole numbers when both ends are, ``step`` apart when given)."""

    name: str
    kind: str
    choices: tuple = ()
    low: float = 0.0
    high: float = 0.0
    step: float | None = None

    @property
    def whole(self) -> bool:
        return self.kind != "choice" and isinstance(self.low, int) and isinstance(self.high, int)

    def grid(self) -> tuple:
        """The values a grid search tries (a range needs a step; a log range has no grid)."""
        if self.kind == "choice":
            return self.choices
        if self.step is None or self.kind == "log":
            raise SpecError(f"vary.{self.name}: a grid search needs every setting as a list or a range with a step")
        count = int(math.floor((self.high - self.low) / self.step + 1e-9)) + 1
        values = [self.low + k * self.step for k in range(count)]
        return tuple(int(v) if self.whole else round(v, 12) for v in values)

    def to_json(self) -> dict[str, Any]:
        return attrs.asdict(self)


@attrs.frozen
class SweepSpec:
    """A checked sweep: where it is (``path``; ``folder`` is where the trials' checkpoints go),
    the recipe (``base`` preset with ``settings`` on top), what varies, and how to search."""

    path: Path
    base: str
    settings: Mapping[str, Any]
    vary: tuple[Dimension, ...]
    seeds: tuple[int, ...]
    trials: int
    search: str
    objective: str
    pruner: str
    sampler_seed: int | None

    @property
    def folder(self) -> Path:
        """The sweep's own folder beside its file: ``sweeps/lr.toml`` -> ``sweeps/lr/``."""
        return self.path.with_suffix("")

    @property
    def default_storage(self) -> str:
        """The study's SQLite file beside the sweep file: ``sweeps/lr.toml`` -> ``sweeps/lr.db``."""
        return f"sqlite:///{self.path.with_suffix('.db').resolve()}"

    @property
    def study_name(self) -> str:
        return self.path.stem

    @property
    def direction(self) -> str:
        return OBJECTIVES[self.objective]

    @property
    def dimensions(self) -> tuple[Dimension, ...]:
        """The searched settings, the seed among them when there are several seeds."""
        if len(self.seeds) == 1:
            return self.vary
        return (*self.vary, Dimension("seed", "choice", choices=self.seeds))

    def grid_size(self) -> int:
        return math.prod(len(d.grid()) for d in self.dimensions)

    def config(self, params: Mapping[str, Any]) -> RunConfig:
        """The RunConfig of a trial whose searched settings are ``params`` (ConfigError if it is none)."""
        return config_for(self.base, self.settings, {**({"seed": self.seeds[0]} if len(self.seeds) == 1 else {}), **params})


def config_for(base: str, settings: Mapping[str, Any], params: Mapping[str, Any]) -> RunConfig:
    """``preset(base)`` with ``settings`` and then ``params`` on top; an augmentation by its name."""
    changes = {**settings, **params}
    if isinstance(changes.get("augment"), str):
        name = changes["augment"]
        if name not in AUGMENTATIONS:
            raise ConfigError("augment", f"{name!r} is not one of: {', '.join(AUGMENTATIONS)}")
        changes["augment"] = AUGMENTATIONS[name]
    if isinstance(changes.get("layers"), list):
        changes["layers"] = tuple(changes["layers"])
    return preset(base, **changes)


def read_spec(path: str | os.PathLike) -> SweepSpec:
    """The sweep file at ``path``, checked (SpecError, one line, on any mistake)."""
    path = Path(path)
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10 reads TOML with the tomli package, if installed
        try:
            import tomli as tomllib
        except ImportError:
            raise SpecError(f"{path}: reading a sweep file needs Python 3.11 or later, or the tomli package") from None
    try:
        with open(path, "rb") as file:
            table = tomllib.load(file)
    except OSError as error:
        raise SpecError(f"{path}: cannot read the sweep file ({error.strerror or error})") from None
    except tomllib.TOMLDecodeError as error:
        raise SpecError(f"{path}: not TOML: {str(error).splitlines()[0]}") from None
    return check_spec(table, path)


def check_spec(table: Mapping[str, Any], path: Path) -> SweepSpec:
    """The SweepSpec of the parsed TOML ``table`` (``path``: the file, for relative data paths)."""
    unknown = sorted(set(table) - set(TOP_KEYS))
    if unknown:
        raise SpecError(f"{unknown[0]}: not a key of a sweep file; the keys are {', '.join(TOP_KEYS)}")
    base = table.get("base", "default")
    if not isinstance(base, str) or PRESET_ALIASES.get(base, base) not in PRESETS:
        raise SpecError(f"base: {base!r} is not a preset; the presets are {', '.join(PRESETS)}")
    base = PRESET_ALIASES.get(base, base)
    trials = table.get("trials")
    search = _one_of(table, "search", SEARCHES, "tpe")
    objective = table.get("objective", "val_acc")
    if isinstance(objective, str) and objective.startswith("test"):
        raise SpecError(f"objective: {objective} would choose settings on the test set; a sweep scores trials on the "
                        "validation split: use val_acc or val_loss")
    objective = _one_of(table, "objective", tuple(OBJECTIVES), "val_acc")
    pruner = _one_of(table, "pruner", PRUNERS, "median")
    seeds = _seeds(table.get("seeds", [0]))
    sampler_seed = table.get("sampler_seed")
    if sampler_seed is not None and not _whole(sampler_seed):
        raise SpecError(f"sampler_seed: must be a whole number from 0, got {sampler_seed!r}")
    settings = _settings(table.get("settings", {}), path)
    if "val_fraction" not in settings and not PRESETS[base].get("val_fraction"):
        settings["val_fraction"] = DEFAULT_VAL_FRACTION
    vary = _vary(table.get("vary", {}), settings)
    spec = SweepSpec(path=path.absolute(), base=base, settings=settings, vary=vary, seeds=seeds, trials=1,
                     search=search, objective=objective, pruner=pruner, sampler_seed=sampler_seed)
    if search == "grid":
        size = spec.grid_size()
        trials = size if trials is None else trials
    if trials is None:
        raise SpecError("trials: missing; how many trials the sweep runs, e.g. trials = 20")
    if not _whole(trials, 1) or trials > MAX_TRIALS:
        raise SpecError(f"trials: must be a whole number from 1 to {MAX_TRIALS}, got {trials!r}")
    _check_values(spec)
    return attrs.evolve(spec, trials=trials)


def _whole(value: Any, low: int = 0) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def _one_of(table: Mapping[str, Any], key: str, choices: tuple[str, ...], default: str) -> str:
    value = table.get(key, default)
    if value not in choices:
        raise SpecError(f"{key}: {value!r} is not one of: {', '.join(choices)}")
    return value


def _seeds(value: Any) -> tuple[int, ...]:
    if _whole(value):
        value = [value]
    if not isinstance(value, list) or not value or not all(_whole(seed) for seed in value):
        raise SpecError(f"seeds: must be a list of whole numbers from 0, such as [0, 1, 2], got {value!r}")
    if len(set(value)) != len(value):
        raise SpecError(f"seeds: {value} names a seed twice")
    return tuple(value)


def _settings(value: Any, path: Path) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise SpecError("settings: must be a table of run settings ([settings] with name = value lines)")
    settings = dict(value)
    for name in settings:
        if name not in RUN_SETTINGS:
            raise SpecError(f"settings.{name}: not a setting of a run; the settings are {', '.join(RUN_SETTINGS)}")
    if "seed" in settings:
        raise SpecError("settings.seed: " + NOT_VARIED["seed"])
    if "data" in settings:
        if not isinstance(settings["data"], str) or not settings["data"]:
            raise SpecError(f"settings.data: must be a path (a string), got {settings['data']!r}")
        settings["data"] = os.path.abspath(path.parent / os.path.expanduser(settings["data"]))
    return settings


def _vary(value: Any, settings: Mapping[str, Any]) -> tuple[Dimension, ...]:
    if not isinstance(value, Mapping):
        raise SpecError("vary: must be a table of searched settings ([vary] with name = [choices] or {range = [a, b]})")
    dimensions = []
    for name, how in value.items():
        key = f"vary.{name}"
        if name in NOT_VARIED:
            raise SpecError(f"{key}: {NOT_VARIED[name]}")
        if name not in RUN_SETTINGS:
            raise SpecError(f"{key}: not a setting of a run; the settings are {', '.join(RUN_SETTINGS)}")
        if name in settings:
            raise SpecError(f"{key}: also set in [settings]; a setting is either fixed or searched")
        dimensions.append(_dimension(key, name, how))
    return tuple(dimensions)


def _dimension(key: str, name: str, how: Any) -> Dimension:
    if isinstance(how, list):
        how = {"choices": how}
    if not isinstance(how, Mapping) or len(set(how) & {"choices", "range", "log"}) != 1:
        raise SpecError(f"{key}: must be a list of choices, {{range = [low, high]}} or {{log = [low, high]}}")
    unknown = sorted(set(how) - {"choices", "range", "log", "step"})
    if unknown:
        raise SpecError(f"{key}: {unknown[0]} is not one of: choices, range, log, step")
    if "choices" in how:
        choices = how["choices"]
        if "step" in how or not isinstance(choices, list) or not choices:
            raise SpecError(f"{key}: choices must be a non-empty list (and take no step)")
        made = tuple(",".join(map(str, c)) if name == "layers" and isinstance(c, list) else c for c in choices)
        if not all(isinstance(c, (str, int, float, bool)) for c in made):
            raise SpecError(f"{key}: each choice must be a string, number or boolean, got {list(made)!r}")
        if len(set(made)) != len(made):
            raise SpecError(f"{key}: {list(made)!r} names a choice twice")
        return Dimension(name, "choice", choices=made)
    kind = "range" if "range" in how else "log"
    ends, step = how[kind], how.get("step")
    if (not isinstance(ends, list) or len(ends) != 2 or not all(_number(e) for e in ends) or not ends[0] < ends[1]):
        raise SpecError(f"{key}: {kind} must be [low, high], two numbers with low < high, got {ends!r}")
    if kind == "log" and ends[0] <= 0:
        raise SpecError(f"{key}: a log range must be above 0, got {ends!r}")
    if step is not None and (kind == "log" or not _number(step) or step <= 0 or step > ends[1] - ends[0]):
        raise SpecError(f"{key}: step must be a number above 0 and at most high - low (and a log range takes none), got {step!r}")
    whole = all(isinstance(e, int) for e in ends)
    if whole and step is not None and not isinstance(step, int):
        raise SpecError(f"{key}: a range of whole numbers takes a whole step, got {step!r}")
    return Dimension(name, kind, low=ends[0], high=ends[1], step=step)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_values(spec: SweepSpec) -> None:
    """Each choice and each end of each range makes a RunConfig (with the others at their first value)."""
    first = {d.name: (d.choices[0] if d.kind == "choice" else d.low) for d in spec.dimensions}
    try:
        config = spec.config(first)
    except ConfigError as error:
        where = f"vary.{error.field}" if error.field in first else f"settings.{error.field}"
        raise SpecError(f"{where}: {error}") from None
    if not config.val_fraction:
        raise SpecError("settings.val_fraction: a sweep scores trials on a validation split: give a fraction above 0")
    for dimension in spec.dimensions:
        values = dimension.choices if dimension.kind == "choice" else (dimension.low, dimension.high)
        for value in values:
            try:
                spec.config({**first, dimension.name: value})
            except ConfigError as error:
                raise SpecError(f"vary.{dimension.name}: {value!r}: {error}") from None
