"""``purenet bench``: speed of training and inference on this machine, in one run."""

from __future__ import annotations

import json
import math
import os
from typing import Optional

from purenet.apps import bench
from purenet.apps.threads import ThreadChoice, parse_threads, set_blas_threads
from purenet.base.mnist import PIXELS
from purenet.cli.choices import FRAMEWORKS
from purenet.cli.console import fail, say, stdout_console
from purenet.cli.recipes import config_error_message
from purenet.cli.torchstep import torch_step_fn
from purenet.core.layers import plan_layers
from purenet.core.layers.batchnorm import normalises_vectors
from purenet.data import default_data_dir, missing_idx_files
from purenet.runs.config import ConfigError, RunConfig, check_fits


def run_bench(layers: str, batch_size: int, act: str, compare: Optional[str], seconds: float, repeats: int,
              json_output: bool, threads: str = "auto") -> None:
    layer_list = _checked(layers, batch_size, act, seconds)
    if compare is not None and compare not in FRAMEWORKS:
        fail(f"--compare {compare!r}: only {', '.join(map(repr, FRAMEWORKS))} is known")
    blas = set_blas_threads(parse_threads(threads))
    timing = {"seconds": seconds, "repeats": repeats}
    peak = bench.matmul_peak(repeats=repeats, seconds=seconds / 2)
    versus = {}
    if compare == "torch":
        train, versus = _paired_with_torch(layer_list, act, batch_size, timing, blas)
    else:
        train = bench.train_rate(layer_list, act, batch_size, **timing)
    figures = {
        "peak_gflops": peak,
        "train_samples_per_s": train,
        "train_gflops": bench.Rate.of([r * bench.train_flops_per_sample(layer_list) / 1e9 for r in train.runs]),
        "infer_samples_per_s": bench.infer_rate(layer_list, act, batch_size, **timing),
    }
    if not normalises_vectors(plan_layers(tuple(layer_list))):  # a bn on a vector cannot train on one row
        figures["batch1_samples_per_s"] = bench.train_rate(layer_list, act, 1, **timing)
    if layer_list[0] == PIXELS and not missing_idx_files(default_data_dir()):
        figures["load_mnist_seconds"] = bench.load_seconds(default_data_dir(), repeats=repeats)
    figures.update(versus)
    summary = _summary(layer_list, act, batch_size, figures, peak, train)
    summary["threads"] = blas.to_json()
    if json_output:
        print(json.dumps(summary))
    else:
        _render(summary, figures)


def _checked(layers: str, batch_size: int, act: str, seconds: float) -> list[int | str]:
    """The options, checked as a training run's would be (and --seconds a finite number), before any timing."""
    if not (math.isfinite(seconds) and 0.01 <= seconds <= 600):
        fail(f"--seconds must be a finite number from 0.01 to 600, got {seconds}")
    try:
        config = RunConfig(layers=layers, batch_size=batch_size, act=act)
        check_fits(config)
    except ConfigError as error:
        fail(config_error_message(error))
    if batch_size == 1 and normalises_vectors(plan_layers(config.network_layers)):
        fail("--batch-size 1: a bn layer on a vector needs at least two rows in each training batch")
    return list(config.layers)


def _paired_with_torch(layer_list, act, batch_size, timing, blas: ThreadChoice) -> tuple[bench.Rate, dict]:
    """purenet's and PyTorch's training step timed in turn, in this one process, PyTorch on as
    many threads as purenet's BLAS (when purenet chose the count)."""
    try:
        theirs = torch_step_fn(layer_list, act, batch_size)
    except ImportError:
        fail("--compare torch needs PyTorch, which is not installed (pip install torch; it is never a dependency)")
    import torch

    if blas.applied is not None and blas.source in ("option", "policy"):
        torch.set_num_threads(blas.applied)
    say(f"PyTorch {torch.__version__} with {torch.get_num_threads()} threads, timed in turn with purenet")
    ours = bench.train_step_fn(layer_list, act, batch_size)
    ours_rate, theirs_rate, ratio = bench.paired_rates(ours, theirs, **timing)
    return ours_rate, {"torch_train_samples_per_s": theirs_rate, "ratio_vs_torch": ratio}


def _summary(layer_list, act, batch_size, figures, peak, train) -> dict:
    percent = 100 * train.median * bench.train_flops_per_sample(layer_list) / 1e9 / peak.median
    summary = {"layers": layer_list, "act": act, "batch_size": batch_size, "cpus": os.cpu_count(),
               "train_flops_per_sample": bench.train_flops_per_sample(layer_list), "percent_of_peak": percent}
    for name, rate in figures.items():
        summary[name] = rate.median
        summary[f"{name}_spread"] = [rate.low, rate.high]
    summary["peak_rss_mb"] = bench.peak_rss_mb()
    return summary


def _render(summary: dict, figures: dict) -> None:
    from rich.table import Table

    console = stdout_console()
    network = "-".join(map(str, summary["layers"]))
    threads = ThreadChoice(**summary["threads"]).in_words()
    console.print(f"{network} {summary['act']}, batch {summary['batch_size']}, {summary['cpus']} CPUs, BLAS threads {threads}; "
                  f"medians of {len(figures['peak_gflops'].runs)} runs")
    table = Table("figure", "median", "min", "max", title_justify="left")
    for column in table.columns[1:]:
        column.justify = "right"
    for name, rate in figures.items():
        table.add_row(name, *(f"{v:,.3f}" if v < 100 else f"{v:,.0f}" for v in (rate.median, rate.low, rate.high)))
    console.print(table)
    console.print(f"training reaches {summary['percent_of_peak']:.0f}% of the matmul peak; "
                  f"peak RSS {summary['peak_rss_mb']:.0f} MB")
