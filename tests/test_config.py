"""RunConfig: every setting checked on construction, one line naming it; JSON round trips exactly."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from purenet.augment import Augmenter
from purenet.config import (
    DEFAULT_LR, RUN_SETTINGS, ConfigError, RunConfig, check_fits, memory_needed, parameter_count,
)

FLOAT_SETTINGS = {  # name: (a good value, bad values)
    "lr": (0.01, [0.0, -1.0, math.nan, math.inf]),
    "weight_decay": (1e-4, [-1e-9, math.nan, math.inf]),
    "warmup": (1.0, [-1.0, math.nan, math.inf, 1e308, 10**400]),
    "decay_every": (0.5, [0.0, -2.0, math.nan, math.inf, 1e308]),
    "gamma": (0.5, [-0.1, 1.5, math.nan]),
    "dropout": (0.2, [-0.1, 0.99, math.nan]),
    "val_fraction": (0.1, [-0.1, 0.95, math.nan, math.inf]),
}
INT_SETTINGS = {"epochs": 1, "batch_size": 1, "patience": 0, "seed": 0}


@pytest.mark.parametrize("name, bad", [(n, b) for n, (_, bads) in FLOAT_SETTINGS.items() for b in bads])
def test_bad_numbers_are_refused_naming_the_setting(name, bad):
    with pytest.raises(ConfigError) as caught:
        RunConfig(**{name: bad})
    assert caught.value.field == name
    assert str(caught.value).startswith(f"{name} must be a finite number")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("name, low", INT_SETTINGS.items())
@pytest.mark.parametrize("offset, kind", [(-1, int), (0, float), (0, bool), (0, str)])
def test_whole_numbers_must_be_ints_in_range(name, low, offset, kind):
    value = kind(low + offset) if kind is not bool else True
    if kind is int and offset == 0:
        return
    with pytest.raises(ConfigError, match=f"^{name} must be a whole number from {low} to "):
        RunConfig(**{name: value})


@pytest.mark.parametrize("name", INT_SETTINGS)
def test_whole_numbers_of_a_thousand_digits_are_refused_in_a_short_line(name):
    with pytest.raises(ConfigError) as caught:
        RunConfig(**{name: 10**1000})
    assert "(1001 digits)" in str(caught.value) and len(str(caught.value)) < 120


@pytest.mark.parametrize("name, value", [("act", "swish"), ("loss", "hinge"), ("init", "zeros"), ("optimizer", "lion"), ("schedule", "exp")])
def test_unknown_choices_list_the_known_ones(name, value):
    with pytest.raises(ConfigError, match=f"^{name} '{value}' is not one of: "):
        RunConfig(**{name: value})


@pytest.mark.parametrize("layers", ["784", "784,0,10", "784,-5,10", "a,b", "784,,10", "784,2.5,10", [784, True], [784.0, 10], b"784,10"])
def test_bad_layer_lists_are_refused(layers):
    with pytest.raises(ConfigError) as caught:
        RunConfig(layers=layers)
    assert caught.value.field == "layers"


def test_layers_are_parsed_from_text_or_any_sequence():
    assert RunConfig(layers="784, 200,10").layers == RunConfig(layers=[784, 200, 10]).layers == (784, 200, 10)


@pytest.mark.parametrize("augment", [{"shift": math.nan}, {"rotation": -1.0}, {"scale": 0.95}, {"elastic_sigma": 0.0},
                                     {"twist": 1.0}, "mild", {"shift": 1e308}, {"rotation": 1e308}, {"elastic_alpha": 1e308}])
def test_bad_augmentation_is_refused(augment):
    with pytest.raises(ConfigError):
        RunConfig(augment=augment)


def test_patience_needs_a_validation_split_and_data_must_be_absolute():
    with pytest.raises(ConfigError, match="^patience needs a validation split"):
        RunConfig(patience=2)
    assert RunConfig(patience=2, val_fraction=0.1).patience == 2
    with pytest.raises(ConfigError, match="^data must be an absolute path"):
        RunConfig(data="relative/folder")


@pytest.mark.parametrize("optimizer", DEFAULT_LR)
def test_the_learning_rate_defaults_by_optimizer(optimizer):
    assert RunConfig(optimizer=optimizer).lr == DEFAULT_LR[optimizer]
    assert RunConfig(optimizer=optimizer, lr=0.5).lr == 0.5


finite = st.floats(min_value=0.0, max_value=1e6, allow_nan=False)
configs = st.builds(
    RunConfig,
    layers=st.lists(st.integers(1, 4096), min_size=2, max_size=5),
    act=st.sampled_from(["sigmoid", "relu", "tanh", "identity", "elu", "leaky_relu"]),
    optimizer=st.sampled_from(sorted(DEFAULT_LR)),
    lr=st.one_of(st.none(), st.floats(min_value=1e-12, max_value=10.0)),
    epochs=st.integers(1, 10**6), batch_size=st.integers(1, 10**6), seed=st.integers(0, 2**63 - 1),
    weight_decay=finite, warmup=finite, gamma=st.floats(0.0, 1.0), dropout=st.floats(0.0, 0.95),
    augment=st.one_of(st.none(), st.fixed_dictionaries(
        {"shift": st.floats(0.0, 1e4), "rotation": st.floats(0.0, 360.0), "scale": st.floats(0.0, 0.9)})),
    data=st.one_of(st.none(), st.just("/data/mnist")),
)


@settings(max_examples=200, deadline=None)
@given(configs)
def test_json_round_trips_exactly(config):
    text = json.dumps(config.to_json())
    assert RunConfig.from_json(json.loads(text)) == config


def test_from_json_refuses_missing_and_unknown_settings():
    settings_ = RunConfig().to_json()
    assert set(settings_) == set(RUN_SETTINGS)
    with pytest.raises(ConfigError, match="lack lr"):
        RunConfig.from_json({k: v for k, v in settings_.items() if k != "lr"})
    with pytest.raises(ConfigError, match="unknown entries \\['colour'\\]"):
        RunConfig.from_json({**settings_, "colour": "blue"})
    with pytest.raises(ConfigError, match="must be a JSON object"):
        RunConfig.from_json([1, 2])
    older = {k: v for k, v in settings_.items() if k != "data"}  # checkpoints before the data path was kept
    assert RunConfig.from_json(older).data is None


def test_an_augmenter_record_is_taken_as_it_is():
    mild = Augmenter(shift=1.0, rotation=8.0, scale=0.08, elastic_alpha=0.0)
    assert RunConfig(augment=mild).augment == mild == RunConfig().augment


def test_memory_check_refuses_the_impossible_and_passes_the_default(monkeypatch):
    with pytest.raises(ConfigError, match="^layers item 2, 100000000000: the width must be at least 1 and at most"):
        RunConfig(layers=(784, 10**11, 10))  # refused by the layer bounds before any estimate
    wide = RunConfig(layers=(784, 10**6, 10))
    assert parameter_count(wide.layers) == 784 * 10**6 + 10**6 + 10**6 * 10 + 10
    monkeypatch.setattr("purenet.config.available_memory", lambda: 10**9)  # 1 GB free
    with pytest.raises(ConfigError, match="^layers 784,1000000,10: training needs at least .* GB"):
        check_fits(wide)
    monkeypatch.undo()
    with pytest.raises(ConfigError, match="^batch_size 10000000000000: training 784,200,200,10 with it needs at least"):
        check_fits(RunConfig(batch_size=10**13))
    check_fits(RunConfig())  # a few MB
    check_fits(RunConfig(batch_size=10**13), samples=60_000)  # a batch is never larger than the data
