"""A run's settings are written once (purenet.runs.settings) and read by RunConfig and `purenet train`."""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys

import pytest

from purenet.cli.app import TrainRequest
from purenet.runs.config import AUGMENTATIONS, PRESETS, RUN_SETTINGS, ConfigError, RunConfig
from purenet.runs.settings import AUGMENTATION_MAGNITUDES, DEFAULTS, RECIPES, SETTINGS


def test_the_table_holds_every_setting_of_a_run_in_its_order():
    assert tuple(SETTINGS) == RUN_SETTINGS


def test_run_config_takes_its_defaults_from_the_table():
    config = RunConfig()
    for name in RUN_SETTINGS:
        if name == "augment":  # a name in the table, the Augmenter it names in the config
            assert config.augment == AUGMENTATIONS[DEFAULTS["augment"]]
        elif name != "lr":  # None in both: the optimizer's own rate, resolved on construction
            assert getattr(config, name) == DEFAULTS[name], name
    assert RunConfig.__attrs_attrs__.lr.default is DEFAULTS["lr"] is None


def test_the_command_line_takes_its_defaults_from_the_table():
    fields = {field.name: field.default for field in dataclasses.fields(TrainRequest)}
    for name in RUN_SETTINGS:
        expected = ",".join(map(str, DEFAULTS[name])) if name == "layers" else DEFAULTS[name]
        assert fields[name] == expected, name


@pytest.mark.parametrize("name", [name for name, setting in SETTINGS.items() if setting.low is not None])
def test_the_stated_range_is_the_one_run_config_checks(name):
    setting = SETTINGS[name]
    whole = isinstance(setting.default, int)
    below = setting.low - 1 if whole else math.nextafter(setting.low, -math.inf)
    RunConfig(**{name: int(setting.low) if whole else setting.low})
    with pytest.raises(ConfigError, match=name):
        RunConfig(**{name: below})
    if setting.high is not None:
        RunConfig(**{name: setting.high})
        with pytest.raises(ConfigError, match=name):
            RunConfig(**{name: math.nextafter(setting.high, math.inf)})
        assert f"({setting.low:g} to {setting.high:g})" in setting.help


def test_the_recipes_and_augmentations_are_the_library_s():
    assert list(PRESETS) == list(RECIPES) and list(AUGMENTATIONS) == list(AUGMENTATION_MAGNITUDES)
    for name, recipe in RECIPES.items():
        made = PRESETS[name]
        assert set(made) == set(recipe)
        if "augment" in recipe:
            assert made["augment"] is AUGMENTATIONS[recipe["augment"]]
    for name, fields in AUGMENTATION_MAGNITUDES.items():
        augmenter = AUGMENTATIONS[name]
        assert (augmenter is None) == (fields is None)
        for field, value in (fields or {}).items():
            assert getattr(augmenter, field) == value


def test_the_help_states_the_table_s_numbers(tmp_path):
    from typer.testing import CliRunner

    from purenet.cli.app import app

    shown = " ".join(CliRunner().invoke(app, ["train", "--help"], env={"COLUMNS": "300"}).stdout.split())
    mild = AUGMENTATION_MAGNITUDES["mild"] or {}
    assert f"mild (shift {mild['shift']:g}, rotate {mild['rotation']:g}, scale {mild['scale']:g})" in shown
    assert f"[default: {DEFAULTS['gamma']}]" in shown and f"[default: {DEFAULTS['act']}]" in shown


def test_the_table_loads_without_numpy():
    code = "import sys, purenet.runs.settings; print('numpy' in sys.modules)"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "False"
