"""A speedrun preset against the same recipe in PyTorch: whole commands, wall time and test accuracy.

    python benchmarks/speedrun.py --preset speedrun --seeds 0,1,2

For each seed, ``purenet train --preset NAME --seed S`` and ``python benchmarks/speedrun_torch.py``
with the preset's settings (same layers, optimizer, schedule, label smoothing, augmentation,
epochs, batch; PyTorch on 2 threads unless --torch-threads) run one after the other, the
order alternating from seed to seed. Each is timed as a whole process (start, data loading,
training, evaluation, exit), as ``/usr/bin/time`` would. Prints one row per run, then the mean
test accuracy of each side over the seeds and the median of the per-seed wall ratios
purenet / PyTorch. PyTorch is not a purenet dependency: install it to run this.
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

HERE = Path(__file__).resolve().parent


def torch_command(preset: str, seed: int, threads: int) -> list[str]:
    """The speedrun_torch.py command for ``preset``'s settings."""
    settings = _preset_settings(preset)
    layers = ",".join(str(layer) for layer in settings["layers"])
    command = [sys.executable, str(HERE / "speedrun_torch.py"), "--layers", layers, "--act", settings["act"],
               "--optimizer", settings["optimizer"], "--schedule", settings["schedule"],
               "--label-smoothing", str(settings.get("label_smoothing", 0.0)), "--batch-size", str(settings["batch_size"]),
               "--epochs", str(settings["epochs"]), "--augment", settings["augment"] or "none", "--seed", str(seed),
               "--threads", str(threads)]
    if settings.get("lr") is not None:
        command += ["--lr", str(settings["lr"])]
    if settings.get("warmup"):
        command += ["--warmup", str(settings["warmup"])]
    return command


def _preset_settings(preset: str) -> dict:
    """The preset's whole settings, as ``purenet train --preset NAME --dry-run --json`` prints them."""
    shown = subprocess.run(["purenet", "train", "--preset", preset, "--dry-run", "--json"], capture_output=True, text=True,
                           check=True)
    return json.loads(shown.stdout)


def timed(command: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return wall, done.stdout


def purenet_run(preset: str, seed: int, folder: str) -> tuple[float, float]:
    out = os.path.join(folder, f"{preset}-{seed}.npz")
    wall, stdout = timed(["purenet", "train", "--preset", preset, "--seed", str(seed), "--out", out, "--force", "--json"])
    events = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    summary = [event for event in events if event.get("event") == "summary"][-1]
    return wall, summary["test_acc"]


def torch_run(preset: str, seed: int, threads: int) -> tuple[float, float]:
    wall, stdout = timed(torch_command(preset, seed, threads))
    return wall, json.loads(stdout.strip().splitlines()[-1])["accuracy"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="speedrun")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--torch-threads", type=int, default=2)
    args = parser.parse_args()
    seeds = [int(seed) for seed in args.seeds.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for i, seed in enumerate(seeds):
            sides = [("purenet", lambda s=seed: purenet_run(args.preset, s, folder)),
                     ("pytorch", lambda s=seed: torch_run(args.preset, s, args.torch_threads))]
            for name, run in (sides if i % 2 == 0 else sides[::-1]):
                wall, accuracy = run()
                rows.append({"side": name, "seed": seed, "wall": round(wall, 1), "accuracy": accuracy,
                             "load": round(os.getloadavg()[0], 2)})
                print(json.dumps(rows[-1]), flush=True)
    by_side = {side: [row for row in rows if row["side"] == side] for side in ("purenet", "pytorch")}
    ratios = [p["wall"] / t["wall"] for p, t in zip(by_side["purenet"], by_side["pytorch"])]
    print(f"{'side':8} {'mean test acc':>13} {'median wall s':>14}")
    for side, side_rows in by_side.items():
        print(f"{side:8} {100 * statistics.mean(r['accuracy'] for r in side_rows):12.2f}% "
              f"{statistics.median(r['wall'] for r in side_rows):14.1f}")
    print("wall purenet / PyTorch by seed: " + " ".join(f"{r:.3f}" for r in ratios)
          + f"; median {statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
