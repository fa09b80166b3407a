"""How many BLAS threads, on a quiet machine and beside other work: 1, all, or the default policy?

    python benchmarks/threads.py [--rounds 5] [--steps 0] [--data data/mnist] [--json results.json]
    python benchmarks/threads.py --table results.json      # the table again, from the figures saved

Times one epoch of the default recipe (``purenet train``'s: 784-200-200-10, Adam, mild
augmentation, batch 128; the record's training seconds; ``--steps S``: only the epoch's first
S steps, for a machine so busy that whole epochs take minutes) in a fresh process for each of
three settings: one BLAS thread, one per core (all), and purenet's default policy
(``purenet.apps.threads.set_blas_threads()``: one thread per core idle at start). Two
conditions: ``none`` (nothing of ours beside it) and ``busy`` (one CPU-bound pure-Python
process per core started beside it). Each round runs the three settings in turn, in a
rotating order, so that changes in the machine's load hit them alike; the table shows
medians, and the ratio of the default to the better of 1 and all threads in each
condition (target: at most 1.5). The children get no BLAS thread variable from the
environment (the policy would leave the count to it). Other work on the machine shows in
the load averages printed beside each condition.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = ("1", "all", "default")
CONDITIONS = ("none", "busy")
BUSY_LOOP = "while True:\n    pass\n"


def child(setting: str, data: str, seed: int, steps: int) -> None:
    """In a fresh process: set the threads as ``setting`` says, train one epoch (or its first
    ``steps`` steps), print one JSON line."""
    from purenet.apps.allocator import tune_malloc
    from purenet.apps.threads import set_blas_threads, usable_cores
    from purenet.core.training import EpochRecord, Progress
    from purenet.runs.config import preset
    from purenet.runs.run import prepare

    tune_malloc()  # as `purenet` does
    asked = {"1": 1, "all": len(usable_cores()), "default": None}[setting]
    choice = set_blas_threads(asked)
    run = prepare(preset("default", epochs=1, seed=seed, data=data))
    if steps:
        record = next(r for r in run.records(progress_every=steps) if isinstance(r, Progress) and r.step == steps)
    else:
        record = next(r for r in run.records() if isinstance(r, EpochRecord))
    print(json.dumps({"seconds": record.seconds, "threads": choice.applied, "reason": choice.reason}))


def timed(setting: str, data: str, seed: int, steps: int) -> dict:
    from purenet.apps.threads import ENVIRONMENT_VARIABLES

    env = {k: v for k, v in os.environ.items() if k not in ENVIRONMENT_VARIABLES}
    command = [sys.executable, __file__, "--child", setting, "--data", data, "--seed", str(seed), "--steps", str(steps)]
    out = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.splitlines()[-1])


def busy_processes(count: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) for _ in range(count)]


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        process.kill()
    for process in processes:
        process.wait()


def measure(condition: str, rounds: int, data: str, cores: int, steps: int) -> list[dict]:
    records = []
    helpers = busy_processes(cores if condition == "busy" else 0)
    try:
        time.sleep(0.5)  # the busy loops are running before the first child looks at the cores
        for round_ in range(rounds):
            order = SETTINGS[round_ % 3:] + SETTINGS[:round_ % 3]
            for setting in order:
                result = timed(setting, data, round_, steps)
                record = {"condition": condition, "round": round_, "setting": setting, "load": os.getloadavg()[0], **result}
                records.append(record)
                print(f"{condition:>4} round {round_} {setting:>7}: {result['seconds']:.2f} s on {result['threads']} "
                      f"thread(s) ({result['reason']}), load {record['load']:.2f}", flush=True)
    finally:
        stop(helpers)
    return records


def summarize(records: list[dict]) -> None:
    """The table: each setting's median seconds, and the default against the better of 1 and all
    threads two ways: as the ratio of the medians, and as the median of each round's ratio."""
    print()
    print("| condition | 1 thread (s) | all threads (s) | default (s) | default's threads | default / better: of medians |"
          " median of rounds | load average |")
    print("|---|---|---|---|---|---|---|---|")
    for condition in CONDITIONS:
        mine = [r for r in records if r["condition"] == condition]
        if not mine:
            continue
        seconds = {(r["round"], r["setting"]): r["seconds"] for r in mine}
        rounds = sorted({r["round"] for r in mine})
        median = {s: statistics.median(seconds[n, s] for n in rounds) for s in SETTINGS}
        per_round = statistics.median(seconds[n, "default"] / min(seconds[n, "1"], seconds[n, "all"]) for n in rounds)
        chosen = sorted({r["threads"] for r in mine if r["setting"] == "default"})
        loads = [r["load"] for r in mine]
        ratio = median["default"] / min(median["1"], median["all"])
        print(f"| {condition} | {median['1']:.2f} | {median['all']:.2f} | {median['default']:.2f} | "
              f"{', '.join(map(str, chosen))} | {ratio:.2f} | {per_round:.2f} | {min(loads):.1f}-{max(loads):.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--data", default=str(ROOT / "data" / "mnist"))
    parser.add_argument("--conditions", nargs="+", choices=CONDITIONS, default=list(CONDITIONS))
    parser.add_argument("--steps", type=int, default=0,
                        help="Time the first STEPS steps of the epoch instead of all 469 (0: the whole epoch).")
    parser.add_argument("--json", type=Path, help="Also write every run's figures here.")
    parser.add_argument("--table", type=Path, help="Only print the table of the figures an earlier --json wrote.")
    parser.add_argument("--child", choices=SETTINGS, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.data, args.seed, args.steps)
        return
    if args.table:
        summarize(json.loads(args.table.read_text()))
        return
    from purenet.apps.threads import usable_cores

    cores = len(usable_cores())
    what = f"the first {args.steps} steps of an epoch" if args.steps else "one epoch"
    print(f"{cores} cores; {what} of the default recipe per run; {args.rounds} rounds; load average "
          f"{os.getloadavg()[0]:.2f} at start", flush=True)
    records = [r for condition in args.conditions for r in measure(condition, args.rounds, args.data, cores, args.steps)]
    summarize(records)
    if args.json:
        args.json.write_text(json.dumps(records, indent=1) + "\n")


if __name__ == "__main__":
    main()
