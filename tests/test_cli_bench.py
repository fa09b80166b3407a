"""``purenet bench`` reports its figures (their size is the benchmark's business, not a test's)."""

from __future__ import annotations

import importlib.util
import json

import pytest
from typer.testing import CliRunner

from purenet.apps.bench import Rate, train_flops_per_sample
from purenet.cli.app import app

KEYS = ("train_samples_per_s", "infer_samples_per_s", "batch1_samples_per_s", "peak_gflops", "percent_of_peak", "peak_rss_mb")
QUICK = ["--layers", "784,32,10", "--seconds", "0.05", "--repeats", "2"]


@pytest.mark.slow
def test_json_has_every_figure():
    result = CliRunner().invoke(app, ["bench", *QUICK, "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert all(figures[key] > 0 for key in KEYS)
    low, high = figures["train_samples_per_s_spread"]
    assert low <= figures["train_samples_per_s"] <= high
    assert figures["percent_of_peak"] == pytest.approx(
        100 * figures["train_samples_per_s"] * figures["train_flops_per_sample"] / 1e9 / figures["peak_gflops"]
    )


@pytest.mark.slow
def test_table_output():
    result = CliRunner().invoke(app, ["bench", *QUICK])
    assert result.exit_code == 0
    assert "train_samples_per_s" in result.stdout and "% of the matmul peak" in result.stdout


@pytest.mark.skipif(importlib.util.find_spec("torch") is not None,
                    reason="checks the message for a machine without PyTorch, and PyTorch is installed here")
def test_compare_torch_without_torch_says_so():
    result = CliRunner().invoke(app, ["bench", *QUICK, "--compare", "torch"])
    assert result.exit_code == 2 and "needs PyTorch" in result.stderr


@pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                    reason="compares with PyTorch, an optional extra that is not installed here (pip install torch)")
def test_compare_torch_times_both_steps():
    result = CliRunner().invoke(app, ["bench", *QUICK, "--compare", "torch", "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert figures["torch_train_samples_per_s"] > 0 and figures["ratio_vs_torch"] > 0


def test_the_torch_step_lives_beside_the_command_not_in_the_library():
    from purenet.apps import bench
    from purenet.cli.torchstep import torch_step_fn

    assert not hasattr(bench, "torch_step_fn")
    if importlib.util.find_spec("torch") is None:
        with pytest.raises(ImportError):
            torch_step_fn([784, 32, 10], "relu", 8)
    else:
        assert torch_step_fn([784, 32, 10], "relu", 8)() == 8


def test_flop_count_of_the_design_card_network():
    # forward 2*198,800; weight grads the same; input grads skip the first layer (784x200)
    assert train_flops_per_sample([784, 200, 200, 10]) == 2 * 198_800 * 3 - 2 * 784 * 200


def test_rate_summary():
    rate = Rate.of([3.0, 1.0, 2.0])
    assert (rate.median, rate.low, rate.high) == (2.0, 1.0, 3.0)


def test_paired_rates_alternate_and_divide_run_by_run():
    from purenet.apps.bench import paired_rates

    calls = []

    def step(name, samples):
        def run():
            calls.append(name)
            return samples
        return run

    a, b, ratio = paired_rates(step("a", 4), step("b", 1), seconds=0.002, repeats=3, settle=0.0)
    assert len(a.runs) == len(b.runs) == len(ratio.runs) == 3
    assert ratio.runs == tuple(x / y for x, y in zip(a.runs, b.runs))
    # timed in turn: the calls switch between a and b, not all a's then all b's
    switches = sum(1 for first, second in zip(calls, calls[1:]) if first != second)
    assert switches >= 2 * 3


def test_rates_in_turn_times_each_step_in_turn_each_round():
    from itertools import groupby

    from purenet.apps.bench import rates_in_turn

    calls = []

    def step(name):
        def run():
            calls.append(name)
            return 1
        return run

    rates = rates_in_turn([step("a"), step("b"), step("c")], seconds=0.002, repeats=3, settle=0.0)
    assert [len(rate.runs) for rate in rates] == [3, 3, 3]
    blocks = [name for name, _ in groupby(calls)]
    assert blocks == ["a", "b", "c"] * 4  # one warm-up round, then three timed rounds


def test_the_torch_counterpart_of_bn_is_batchnorm_with_the_same_momentum_and_eps():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (never a dependency)")
    from purenet.cli.torchstep import _torch_model

    model = _torch_model(torch, (784, "conv4k3", "bn", "pool2", 8, "bn", 10), "relu")
    norms = [m for m in model if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert [(type(m).__name__, m.num_features, m.momentum, m.eps) for m in norms] == [
        ("BatchNorm2d", 4, 0.1, 1e-5), ("BatchNorm1d", 8, 0.1, 1e-5)]


def test_a_bn_on_a_vector_has_no_batch_of_one():
    result = CliRunner().invoke(app, ["bench", "--layers", "784,16,bn,10", "--batch-size", "1"])
    assert result.exit_code == 2
    assert "--batch-size 1: a bn layer on a vector needs at least two rows" in result.output
    assert "Traceback" not in result.output


@pytest.mark.slow
def test_a_network_with_bn_on_a_vector_is_timed_without_a_batch_of_one():
    result = CliRunner().invoke(app, ["bench", "--layers", "784,32,bn,10", "--seconds", "0.05", "--repeats", "2", "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert "batch1_samples_per_s" not in figures and figures["train_samples_per_s"] > 0
