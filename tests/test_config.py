"""RunConfig: every setting checked on construction, one line naming it; JSON round trips exactly."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest
from conftest import PEAK_RESIDENT
from hypothesis import given, settings
from hypothesis import strategies as st

from purenet.core.lr_defaults import DEFAULT_LR
from purenet.data.augment import Augmenter
from purenet.runs.config import (
    RUN_SETTINGS,
    ConfigError,
    RunConfig,
    check_fits,
    parameter_count,
)

FLOAT_SETTINGS = {  # name: (a good value, bad values)
    "lr": (0.01, [0.0, -1.0, math.nan, math.inf]),
    "weight_decay": (1e-4, [-1e-9, math.nan, math.inf]),
    "warmup": (1.0, [-1.0, math.nan, math.inf, 1e308, 10**400]),
    "decay_every": (0.5, [0.0, -2.0, math.nan, math.inf, 1e308]),
    "gamma": (0.5, [-0.1, 1.5, math.nan]),
    "dropout": (0.2, [-0.1, 0.99, math.nan]),
    "label_smoothing": (0.1, [-0.1, 0.6, math.nan]),
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


@pytest.mark.parametrize("name, value", [("act", "swish"), ("loss", "hinge"), ("init", "zeros"), ("optimizer", "lion"),
                                         ("schedule", "exp")])
def test_unknown_choices_list_the_known_ones(name, value):
    with pytest.raises(ConfigError, match=f"^{name} '{value}' is not one of: "):
        RunConfig(**{name: value})


@pytest.mark.parametrize("layers", ["784", "784,0,10", "784,-5,10", "a,b", "784,,10", "784,2.5,10",
                                    [784, True], [784.0, 10], b"784,10"])
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
    assert RunConfig(optimizer=optimizer).lr == DEFAULT_LR[optimizer].run
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
    monkeypatch.setattr("purenet.runs.config.available_memory", lambda: 10**9)  # 1 GB free
    with pytest.raises(ConfigError, match="^layers 784,1000000,10: training needs at least .* GB"):
        check_fits(wide)
    monkeypatch.undo()
    with pytest.raises(ConfigError, match="^batch_size 10000000000000: training 784,200,200,10 with it needs at least"):
        check_fits(RunConfig(batch_size=10**13))
    check_fits(RunConfig())  # a few MB
    check_fits(RunConfig(batch_size=10**13), samples=60_000)  # a batch is never larger than the data


# --- the memory estimate ---------------------------------------------------------------------

ACTIVATIONS_HEAVY = (784, "conv1024k9", "maxpool28", 10)
"""Few parameters (94,218) but 13 MB of activations per image: the layers, not the batch, are the problem."""


def test_a_refusal_names_layers_when_one_image_does_not_fit(monkeypatch):
    config = RunConfig(layers=ACTIVATIONS_HEAVY, batch_size=128)
    monkeypatch.setattr("purenet.runs.config.available_memory", lambda: 10**7)  # 10 MB
    with pytest.raises(ConfigError) as caught:
        check_fits(config)
    assert caught.value.field == "layers" and "even one image at a time" in str(caught.value)
    assert "94,218 parameters" in str(caught.value) and "10.0 MB is available" in str(caught.value)


def test_a_refusal_names_the_batch_size_and_the_batch_that_fits(monkeypatch):
    config = RunConfig(layers=ACTIVATIONS_HEAVY, batch_size=128)
    monkeypatch.setattr("purenet.runs.config.available_memory", lambda: 10**8)  # 100 MB
    with pytest.raises(ConfigError) as caught:
        check_fits(config)
    assert caught.value.field == "batch_size"
    fits = int(str(caught.value).rsplit("enough for a batch of ", 1)[1].replace(",", ""))
    check_fits(RunConfig(layers=ACTIVATIONS_HEAVY, batch_size=fits))
    with pytest.raises(ConfigError):
        check_fits(RunConfig(layers=ACTIVATIONS_HEAVY, batch_size=fits + 1))


ESTIMATE_RUN = PEAK_RESIDENT + """
import json, os, sys
from purenet.runs.config import RunConfig, memory_needed
from purenet.runs.run import checkpoint_after, prepare
from purenet.core.training import EpochRecord

config = RunConfig(layers=sys.argv[1].split(","), batch_size=int(sys.argv[2]), epochs=1, augment=None,
                   data=os.path.abspath(sys.argv[3]))
run = prepare(config)
before = int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
last = run.initial_checkpoint
for record in run.records():
    if isinstance(record, EpochRecord):
        last = checkpoint_after(record, last)  # as purenet train keeps it until the next epoch's
print(json.dumps({"before": before, "estimate": memory_needed(config, samples=len(run.train)),
                  "peak": peak_resident_bytes()}))
"""


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads the resident size from /proc")
@pytest.mark.parametrize("layers, batch", [
    ("conv32k5,pool2,conv64k5,pool2,256,10", 128),
    ("conv8k3,10", 1024),  # the estimate before counted the first layer's dL/dx, which nobody computes: 1.45x the peak
    ("conv32k3valid,pool2,10", 512),
])
def test_the_estimate_is_a_floor_within_a_factor_of_two_of_a_real_runs_peak(small_mnist_dir, layers, batch):
    """What the process held when the run was checked, plus the estimate, against the peak
    resident size of one epoch (docs/reliability.md has the figures for other networks)."""
    result = subprocess.run([sys.executable, "-c", ESTIMATE_RUN, f"784,{layers}", str(batch), str(small_mnist_dir)],
                            capture_output=True, text=True, env={**os.environ, "OPENBLAS_NUM_THREADS": "1"}, check=True)
    figures = json.loads(result.stdout)
    ratio = (figures["before"] + figures["estimate"]) / figures["peak"]
    print(layers, batch, {key: round(value / 2**20) for key, value in figures.items()}, f"ratio {ratio:.2f}")
    assert 0.5 <= ratio <= 1.0, figures


def test_label_smoothing_needs_the_ce_loss_and_older_settings_read_as_none():
    with pytest.raises(ConfigError, match="needs the ce loss, not mse") as caught:
        RunConfig(loss="mse", label_smoothing=0.1)
    assert caught.value.field == "label_smoothing"
    assert RunConfig(loss="mse").label_smoothing == 0.0
    settings = RunConfig(label_smoothing=0.1).to_json()
    assert settings["label_smoothing"] == 0.1 and RunConfig.from_json(settings).label_smoothing == 0.1
    del settings["label_smoothing"]  # a checkpoint written before the setting existed
    assert RunConfig.from_json(settings).label_smoothing == 0.0
