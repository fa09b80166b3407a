"""How many trials an hour a sweep finishes: 1 and 2 local workers, and a local Dask cluster of 2 workers.

    python benchmarks/sweep_throughput.py [--trials 8] [--epochs 2] [--layers 784,100,10] [--rounds 1]
                                          [--no-dask] [--json results.json]

One small recipe (``--layers``, ``--epochs`` a trial, no augmentation, 10% of the training set
held out, the learning rate drawn by random search, no pruning, so that every trial does the
same work) swept four ways, each a whole ``purenet sweep`` process with a fresh study in a
temporary folder, timed from start to exit:

- ``plain``: the same trials as ``purenet train --config FILE --threads 1`` processes, one
  after the other (the trial's settings, but a plain run: it also measures the test split
  each epoch): what a user would do by hand; the sweep's overhead per trial is measured
  against it;
- ``jobs1``: ``purenet sweep --jobs 1 --threads 1``;
- ``jobs2``: ``purenet sweep --jobs 2 --threads 1``;
- ``dask2``: ``purenet sweep --scheduler ADDRESS --threads 1`` against a Dask scheduler and
  two worker processes (``dask scheduler``, ``dask worker --nthreads 1``) started on
  127.0.0.1 for the round and stopped after it (their start-up is not timed).

Prints trials per hour for each, the per-trial overhead of ``jobs1`` against ``plain``,
the load average before and after each. Every process gets one BLAS thread, so that the
ways differ only in how trials are spread.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WAYS = ("plain", "jobs1", "jobs2", "dask2")
SPEC = """\
base = "default"
trials = {trials}
search = "random"
objective = "val_acc"
sampler_seed = 0
pruner = "none"

[settings]
epochs = {epochs}
layers = "{layers}"
augment = "none"
val_fraction = 0.1
data = "{data}"

[vary]
lr = {{log = [1e-4, 1e-2]}}
"""


def purenet(*args: str) -> list[str]:
    return [shutil.which("purenet") or "purenet", *args]


def environment() -> dict:
    env = {key: value for key, value in os.environ.items() if not key.endswith("_NUM_THREADS")}
    env["PURENET_THREADS"] = "1"
    return env


def timed(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=environment(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip()[-400:]}")
    return seconds


def write_spec(folder: Path, name: str, args) -> Path:
    spec = folder / f"{name}.toml"
    spec.write_text(SPEC.format(trials=args.trials, epochs=args.epochs, layers=args.layers, data=os.path.abspath(args.data)))
    return spec


def plain_runs(folder: Path, args) -> float:
    """The trials of the finished ``jobs1`` sweep, trained again as plain runs, one after the other."""
    settings = trial_configs(folder / "jobs1.toml")
    started = time.perf_counter()
    for index, config in enumerate(settings):
        path = folder / f"plain-{index}.json"
        path.write_text(json.dumps(config))
        timed(purenet("train", "--config", str(path), "--threads", "1", "--out", str(folder / f"plain-{index}.npz"),
                      "--force"), folder)
    return time.perf_counter() - started


def trial_configs(spec: Path) -> list[dict]:
    """Each finished trial's RunConfig, as ``purenet sweep --show`` writes the best one's."""
    from purenet.runs.checkpoint import load

    trials = sorted((spec.parent / spec.stem).glob("trial-*.npz"))
    return [load(path).config.to_json() for path in trials]


def dask_cluster(folder: Path):
    dask = [sys.executable, "-m", "dask"]
    file = folder / "scheduler.json"
    scheduler = subprocess.Popen([*dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                  "--scheduler-file", str(file)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 env=environment())
    started = [scheduler]
    deadline = time.monotonic() + 120
    while not file.exists():
        if time.monotonic() > deadline:
            raise SystemExit("the Dask scheduler did not start in 2 minutes")
        time.sleep(0.2)
    address = json.loads(file.read_text())["address"]
    for name in ("w1", "w2"):
        started.append(subprocess.Popen([*dask, "worker", address, "--nworkers", "1", "--nthreads", "1", "--name", name,
                                         "--no-dashboard"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        env=environment()))
    from distributed import Client

    with Client(address, timeout="60s") as client:
        client.wait_for_workers(2, timeout=120)
    return address, started


def stop(processes) -> None:
    for process in reversed(processes):
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def one_round(args) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="purenet-sweep-bench-"))
    seconds, loads = {}, {}
    try:
        for way in ("jobs1", "plain", "jobs2", "dask2"):
            if way == "dask2" and args.no_dask:
                continue
            before = os.getloadavg()[0]
            if way == "plain":
                seconds[way] = plain_runs(folder, args)
            elif way == "dask2":
                address, processes = dask_cluster(folder)
                try:
                    seconds[way] = timed(purenet("sweep", str(write_spec(folder, way, args)), "--scheduler", address,
                                                 "--threads", "1", "--json"), folder)
                finally:
                    stop(processes)
            else:
                jobs = "1" if way == "jobs1" else "2"
                seconds[way] = timed(purenet("sweep", str(write_spec(folder, way, args)), "--jobs", jobs, "--threads", "1",
                                             "--json"), folder)
            loads[way] = (round(before, 2), round(os.getloadavg()[0], 2))
            print(f"  {way}: {seconds[way]:.1f} s for {args.trials} trials "
                  f"({3600 * args.trials / seconds[way]:.0f} trials/hour); load {loads[way][0]} -> {loads[way][1]}", flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {"seconds": seconds, "loads": loads}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--layers", default="784,100,10")
    parser.add_argument("--data", default=str(ROOT / "data" / "mnist"))
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--no-dask", action="store_true", help="leave out the Dask cluster")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    print(f"{args.trials} trials of {args.layers}, {args.epochs} epochs each, on {os.cpu_count()} cores; "
          f"load average {os.getloadavg()[0]:.2f}", flush=True)
    rounds = []
    for number in range(args.rounds):
        print(f"round {number + 1}", flush=True)
        rounds.append(one_round(args))
    ways = [way for way in WAYS if all(way in r["seconds"] for r in rounds)]
    median = {way: statistics.median(r["seconds"][way] for r in rounds) for way in ways}
    print(f"\nmedian of {len(rounds)} round(s):")
    for way in ways:
        print(f"  {way:6s} {median[way]:7.1f} s   {3600 * args.trials / median[way]:6.0f} trials/hour   "
              f"{median[way] / args.trials:5.2f} s a trial")
    overhead = (median["jobs1"] - median["plain"]) / args.trials
    speedups = [f"jobs2 {median['jobs1'] / median['jobs2']:.2f}x"]
    if "dask2" in median:
        speedups.append(f"dask2 {median['jobs1'] / median['dask2']:.2f}x")
    print(f"  sweep overhead a trial (jobs1 - plain): {overhead:+.2f} s; speed-up over jobs1: {', '.join(speedups)}")
    if args.json:
        args.json.write_text(json.dumps({"trials": args.trials, "epochs": args.epochs, "layers": args.layers,
                                         "rounds": rounds, "median_seconds": median}, indent=1))


if __name__ == "__main__":
    main()
