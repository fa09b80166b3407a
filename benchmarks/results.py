"""Run purenet's recipes for several seeds and record what they reach, for docs/results.md.

    python benchmarks/results.py                      # every recipe, seeds 0 1 2
    python benchmarks/results.py --recipes default sigmoid --seeds 0
    python benchmarks/results.py --plot-only          # redraw the plot from the JSON

Each run is the real command, ``purenet train ... --json``, in a fresh process; its
seconds are the whole process's wall time (start, load, train, evaluate, save),
measured from here. Results accumulate in benchmarks/results.json (one entry per
recipe and seed, re-running replaces the entry); the accuracy-versus-seconds plot
goes to docs/img/accuracy_vs_seconds.png (needs matplotlib).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results.json"
PLOT = ROOT / "docs" / "img" / "accuracy_vs_seconds.png"

RECIPES = {
    "default": [],
    "sigmoid": ["--layers", "784,200,200,10", "--act", "sigmoid"],  # the default recipe with sigmoid hidden units
    "best": ["--preset", "best"],
    "per-sample-sigmoid": ["--preset", "per-sample-sigmoid"],  # per-sample SGD, sigmoid, squared error (docs/results.md)
    "softmax-regression": ["--preset", "softmax-regression"],
}
"""Recipe name -> the options given to ``purenet train`` (beside --seed, --out, --json)."""


def purenet() -> str:
    return str(Path(sys.executable).parent / "purenet")


def run(recipe: str, seed: int) -> dict:
    """One run of ``recipe`` with ``seed``; returns its figures."""
    with tempfile.TemporaryDirectory() as folder:
        command = [purenet(), "train", *RECIPES[recipe], "--seed", str(seed), "--out", f"{folder}/m.npz", "--json"]
        env = {**os.environ, "XDG_STATE_HOME": folder}
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
        seconds = time.perf_counter() - started
    events = [json.loads(line) for line in done.stdout.splitlines()]
    summary = events[-1]
    return {
        "recipe": recipe, "seed": seed, "seconds": seconds, "epochs": summary["epochs"],
        "test_acc": (summary["best"] or summary)["test_acc"],
        "train_seconds": sum(e["seconds"] for e in events if e["event"] == "epoch"),
        "command": "purenet train " + " ".join(RECIPES[recipe] + ["--seed", str(seed)]),
    }


def load_results() -> list[dict]:
    return json.loads(RESULTS.read_text()) if RESULTS.exists() else []


def save_results(results: list[dict]) -> None:
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")


def table(results: list[dict]) -> str:
    """A Markdown table: recipe, command, epochs, seconds (mean), test accuracy mean ± sd."""
    lines = ["| recipe | command | epochs | seconds (mean) | test accuracy (mean ± sd) | seeds |", "|---|---|---|---|---|---|"]
    for recipe in RECIPES:
        runs = [r for r in results if r["recipe"] == recipe]
        if not runs:
            continue
        accuracies = [100 * r["test_acc"] for r in runs]
        sd = statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0
        lines.append(
            f"| {recipe} | `{' '.join(['purenet train', *RECIPES[recipe]])}` | {runs[0]['epochs']} "
            f"| {statistics.mean(r['seconds'] for r in runs):.1f} "
            f"| {statistics.mean(accuracies):.2f} ± {sd:.2f} % | {len(runs)} |"
        )
    return "\n".join(lines)


def plot(results: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5))
    for recipe in RECIPES:
        runs = [r for r in results if r["recipe"] == recipe]
        if runs:
            axes.scatter([r["seconds"] for r in runs], [100 * r["test_acc"] for r in runs], label=recipe, s=30)
    for name, accuracy in (("MLP, 800 HU, no distortions (Simard et al. 2003)", 98.4),
                           ("MLP + elastic (Simard et al. 2003)", 99.3)):
        axes.axhline(accuracy, linestyle=":", color="grey")
        # x in axes fraction, y in data: the label stays at the left edge whatever the x scale
        axes.text(0.01, accuracy + 0.08, name, fontsize=8, color="grey", transform=axes.get_yaxis_transform())
    axes.set(xscale="log", xlabel="seconds, whole command (log scale)", ylabel="test accuracy (%)",
             title="purenet recipes: accuracy against time (each point one seed)")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="lower right")
    PLOT.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(PLOT, dpi=110, bbox_inches="tight")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--plot-only", action="store_true")
    args = parser.parse_args()
    results = load_results()
    if not args.plot_only:
        for recipe in args.recipes:
            for seed in args.seeds:
                figures = run(recipe, seed)
                print(json.dumps(figures), flush=True)
                results = [r for r in results if (r["recipe"], r["seed"]) != (recipe, seed)] + [figures]
                save_results(results)
    print(table(results))
    print("per seed:", ", ".join(f"{r['recipe']} {r['seed']}: {100 * r['test_acc']:.2f}% {r['seconds']:.0f} s" for r in results))
    plot(results)


if __name__ == "__main__":
    main()
