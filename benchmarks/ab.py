"""Two builds of the ``purenet`` command, timed in turn: does a change keep its speed?

    python benchmarks/ab.py OLD_PURENET NEW_PURENET [--rounds 5] [--threads default 1] [--epochs 2]
                            [--what train bench] [--alternate] [--json-out FILE]

OLD_PURENET and NEW_PURENET are two ``purenet`` executables, e.g. the console
script of a second virtual environment holding a ``git worktree`` of the commit
before the change, and this checkout's (docs/performance.md, "Tuning malloc is the
program's choice", says how the two were set up). For each BLAS thread setting
(``default``: OpenBLAS's own choice, every core, set explicitly; ``1``: OPENBLAS_NUM_THREADS=1) and
each round, it runs, old then new (with ``--alternate``, new then old in even rounds):

* ``purenet train --epochs N --out TMP --json``: the whole process's wall seconds
  and peak resident memory (``wait4``, as ``/usr/bin/time -v`` reports them), and
  the training seconds the command reports (the sum of its epochs' ``seconds``);
* ``purenet bench --json``: ``train_samples_per_s`` (itself a median of 5 runs).

Both builds read the same MNIST folder (``--data``; ``PURENET_DATA`` for bench).
It prints every round, the medians with their spread, and the ratio new/old round
by round (for seconds and memory below 1 means the new build is faster or smaller;
for samples/s above 1 means faster), with the load average before each run: the
machine this project runs on is shared, and its noise is often larger than the
difference being looked for. ``--json-out FILE`` also writes every figure.
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
BLAS_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def environment(threads: str, data: Path) -> dict[str, str]:
    """This process's environment with the BLAS thread setting and the data folder given.

    ``default`` is written out as one thread per core, OpenBLAS's own choice: a build with
    purenet's thread policy (``--threads auto``) would otherwise choose by the load of the
    moment, and two builds would be compared on different thread counts.
    """
    env = {k: v for k, v in os.environ.items() if k not in BLAS_VARIABLES}
    env["OPENBLAS_NUM_THREADS"] = str(os.cpu_count() or 1) if threads == "default" else threads
    env["PURENET_DATA"] = str(data)
    return env


def run(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MiB, stdout) of one whole process."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if code != 0:
        sys.exit(f"{' '.join(command)} failed ({code}):\n{stderr}")
    return wall, usage.ru_maxrss / 1024, stdout


def train(purenet: str, env: dict[str, str], epochs: int, data: Path, work: Path) -> dict[str, float]:
    command = [purenet, "train", "--epochs", str(epochs), "--data", str(data), "--out", str(work / "ab.npz"), "--json"]
    wall, rss, stdout = run(command, env, work)
    events = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    training = sum(e["seconds"] for e in events if e.get("event") == "epoch")
    return {"train_wall_s": wall, "train_seconds_reported": training, "train_peak_rss_mib": rss}


def bench(purenet: str, env: dict[str, str], work: Path) -> dict[str, float]:
    wall, rss, stdout = run([purenet, "bench", "--json"], env, work)
    figures = json.loads(stdout.strip().splitlines()[-1])
    return {"bench_train_samples_per_s": figures["train_samples_per_s"], "bench_peak_rss_mib": figures["peak_rss_mb"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", help="the old build's purenet executable")
    parser.add_argument("new", help="the new build's purenet executable")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", nargs="+", default=["default", "1"], help="BLAS thread settings: default, or a number")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--what", nargs="+", default=["train", "bench"], choices=["train", "bench"])
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "mnist")
    parser.add_argument("--alternate", action="store_true",
                        help="old then new in odd rounds, new then old in even ones "
                             "(a drift or an order effect then falls on both)")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    # the commands run in a scratch folder: a relative path to an executable must be made absolute first
    builds = {name: str(Path(path).resolve()) if os.sep in path else path
              for name, path in (("old", args.old), ("new", args.new))}
    records = []
    with tempfile.TemporaryDirectory(prefix="purenet-ab-") as folder:
        work = Path(folder)  # a neutral working directory: neither checkout is on sys.path
        for threads in args.threads:
            env = environment(threads, args.data.resolve())
            for round_ in range(1, args.rounds + 1):
                for what in args.what:
                    order = list(builds.items())
                    if args.alternate and round_ % 2 == 0:
                        order.reverse()
                    for label, purenet in order:
                        load = os.getloadavg()[0]
                        if what == "train":
                            figures = train(purenet, env, args.epochs, args.data.resolve(), work)
                        else:
                            figures = bench(purenet, env, work)
                        record = {"threads": threads, "round": round_, "build": label, "load": load, **figures}
                        records.append(record)
                        shown = ", ".join(f"{k} {v:,.2f}" for k, v in figures.items())
                        print(f"threads={threads} round {round_} {what} {label}: {shown} (load {load:.2f})", flush=True)
    if args.json_out:
        args.json_out.write_text(json.dumps(records, indent=1) + "\n")
    summarize(records, args.threads)


def summarize(records: list[dict], thread_settings: list[str]) -> None:
    print("\nmedian (min-max) of the rounds; new/old round by round, then its median")
    names = [k for k in dict.fromkeys(k for r in records for k in r) if k not in ("threads", "round", "build", "load")]
    for threads in thread_settings:
        for name in names:
            by_build = {b: [r[name] for r in records if r["threads"] == threads and r["build"] == b and name in r]
                        for b in ("old", "new")}
            old, new = by_build["old"], by_build["new"]
            if not old or not new:
                continue
            ratios = [n / o for o, n in zip(old, new)]
            loads = [r["load"] for r in records if r["threads"] == threads and name in r]
            print(f"threads={threads} {name}: old {statistics.median(old):,.2f} ({min(old):,.2f}-{max(old):,.2f}), "
                  f"new {statistics.median(new):,.2f} ({min(new):,.2f}-{max(new):,.2f}); "
                  f"new/old {' '.join(f'{x:.3f}' for x in ratios)}, median {statistics.median(ratios):.3f}; "
                  f"load {min(loads):.2f}-{max(loads):.2f}")


if __name__ == "__main__":
    main()
