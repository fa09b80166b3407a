"""How training speed grows with batch size and width, for docs/performance.md.

    python benchmarks/scaling.py                  # measure, write benchmarks/scaling.json and the plot
    python benchmarks/scaling.py --plot-only      # redraw docs/img/scaling.png from the JSON

Every point is ``purenet.apps.bench.train_rate``: the public composition
``sgd(params, backward(params, forward(params, x), y), lr)`` on synthetic batches,
median of --repeats timed runs after a warm-up, with the spread. The matmul peak is
measured in the same run, so "% of peak" compares like with like.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from purenet.apps import bench
from purenet.apps.allocator import tune_malloc

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "scaling.json"
PLOT = ROOT / "docs" / "img" / "scaling.png"

BATCH_SIZES = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
WIDTHS = [50, 100, 200, 400, 800, 1600]


def point(layers: list[int], batch_size: int, seconds: float, repeats: int) -> dict:
    rate = bench.train_rate(layers, "relu", batch_size, seconds=seconds, repeats=repeats)
    gflops = rate.median * bench.train_flops_per_sample(layers) / 1e9
    return {"layers": layers, "batch_size": batch_size, "samples_per_s": rate.median,
            "spread": [rate.low, rate.high], "gflops": gflops}


def measure(seconds: float, repeats: int) -> dict:
    peak = bench.matmul_peak(repeats=repeats)
    results = {"peak_gflops": peak.median, "peak_spread": [peak.low, peak.high], "batch": [], "width": []}
    for batch_size in BATCH_SIZES:
        results["batch"].append(point([784, 200, 200, 10], batch_size, seconds, repeats))
        print(json.dumps(results["batch"][-1]), flush=True)
    for width in WIDTHS:
        results["width"].append(point([784, width, width, 10], 128, seconds, repeats))
        print(json.dumps(results["width"][-1]), flush=True)
    return results


def plot(results: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    peak = results["peak_gflops"]
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    batch = results["batch"]
    left.plot([p["batch_size"] for p in batch], [p["samples_per_s"] for p in batch], "o-")
    left.set(xscale="log", yscale="log", xlabel="batch size", ylabel="training samples/s",
             title="784-200-200-10 ReLU, by batch size")
    left.set_xticks(BATCH_SIZES, [str(b) for b in BATCH_SIZES], fontsize=7)
    for p in batch:
        left.annotate(f"{100 * p['gflops'] / peak:.0f}%", (p["batch_size"], p["samples_per_s"]),
                      textcoords="offset points", xytext=(0, 6), ha="center", fontsize=7)
    width = results["width"]
    right.plot([p["layers"][1] for p in width], [100 * p["gflops"] / peak for p in width], "o-")
    right.set(xscale="log", xlabel="hidden width (784-w-w-10, batch 128)", ylabel="% of the matmul peak",
              title="share of the matmul peak, by width", ylim=(0, 100))
    right.set_xticks(WIDTHS, [str(w) for w in WIDTHS])
    for axes in (left, right):
        axes.grid(alpha=0.3, which="both")
    figure.suptitle(f"purenet training speed (labels: % of the {peak:.0f} GFLOP/s matmul peak)", fontsize=10)
    PLOT.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(PLOT, dpi=110, bbox_inches="tight")


def main() -> None:
    tune_malloc()  # as `purenet` does: steps reuse freed pages (purenet.apps.allocator; PURENET_TUNE_MALLOC=0 opts out)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.5)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--plot-only", action="store_true")
    args = parser.parse_args()
    if args.plot_only:
        results = json.loads(RESULTS.read_text())
    else:
        results = measure(args.seconds, args.repeats)
        RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    plot(results)


if __name__ == "__main__":
    main()
