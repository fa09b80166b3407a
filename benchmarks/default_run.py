"""The whole default run against the PyTorch reference recipe, timed in turn in one session.

    python benchmarks/default_run.py [--rounds 3] [--threads 1 2] [--epochs 20] [--data data/mnist]
                                     [--purenet purenet] [--epoch-table] [--compare OLD_PURENET]

For each BLAS thread setting and each round it runs, one after the other (the order
swapped every other round):

* ``purenet train --out TMP --json`` with the default recipe (784-200-200-10 ReLU, Adam,
  the step schedule, mild augmentation, 20 epochs; ``--epochs`` changes only the count),
  with ``OPENBLAS_NUM_THREADS`` set to the thread count;
* ``python benchmarks/torch_reference.py --threads N`` (784-200-200-10 ReLU, Nesterov
  momentum, cosine, no augmentation, the same epochs), PyTorch's threads set alike;

and measures each whole process's wall time (``wait4``, what ``/usr/bin/time`` reports:
loading, training, evaluation and, for purenet, writing the checkpoint), and its CPU
seconds (user + system: on a busy machine, the work done, which waiting does not inflate). It prints
every pair, the median of the ratios purenet / PyTorch, and both test accuracies, with
the load average before each run: the machine may be shared, and a ratio of runs made
in turn is what survives that.

``--epoch-table`` times epochs instead: ``purenet train --epochs 2 --json`` for plain SGD
without augmentation, Adam without augmentation and Adam with the default mild
augmentation, the median of the epochs' ``seconds`` over the rounds (and of each
process's CPU seconds, the two epochs with loading and evaluation); with
``--compare OLD_PURENET`` (another build's ``purenet``, e.g. the commit before a change
installed in a second virtual environment) both builds in turn, and the ratio new/old.
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
BLAS_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
CONFIGS = {"sgd/none": ["--optimizer", "sgd", "--augment", "none"], "adam/none": ["--optimizer", "adam", "--augment", "none"],
           "adam/mild": ["--optimizer", "adam", "--augment", "mild"]}


CPU_SECONDS: list[float] = []
"""The CPU seconds of every process ``run`` waited for, the last first."""


def environment(threads: int) -> dict[str, str]:
    """This process's environment with every BLAS library set to ``threads`` threads."""
    env = dict(os.environ)
    for name in BLAS_VARIABLES:
        env[name] = str(threads)
    return env


def run(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    """(wall seconds, stdout) of one whole process; exits with its stderr if it fails. The
    process's CPU seconds (user + system) go to ``CPU_SECONDS``, last first."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        CPU_SECONDS.insert(0, usage.ru_utime + usage.ru_stime)
        out.seek(0)
        err.seek(0)
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit(f"{' '.join(command)} failed:\n{err.read()[-2000:]}")
        return wall, out.read()


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def load() -> str:
    return "load %.2f" % os.getloadavg()[0]


def purenet_run(purenet: str, args: argparse.Namespace, threads: int, extra: list[str]) -> tuple[float, list[dict]]:
    with tempfile.TemporaryDirectory() as folder:
        command = [purenet, "train", "--data", str(args.data), "--out", str(Path(folder) / "model.npz"), "--json", *extra]
        wall, text = run(command, environment(threads))
    return wall, json_lines(text)


def whole_runs(args: argparse.Namespace) -> None:
    torch_command = [sys.executable, str(HERE / "torch_reference.py"), "--data", str(args.data), "--epochs", str(args.epochs)]
    for threads in args.threads:
        ratios, cpu_ratios, accuracies = [], [], {"purenet": [], "torch": []}
        for round_ in range(1, args.rounds + 1):
            walls, cpus = {}, {}
            for who in (("purenet", "torch") if round_ % 2 else ("torch", "purenet")):
                before = load()
                if who == "purenet":
                    wall, records = purenet_run(args.purenet, args, threads, ["--epochs", str(args.epochs)])
                    accuracy = records[-1]["test_acc"]
                else:
                    wall, text = run([*torch_command, "--threads", str(threads)], environment(threads))
                    accuracy = json_lines(text)[-1]["test_acc"]
                walls[who], cpus[who] = wall, CPU_SECONDS[0]
                accuracies[who].append(accuracy)
                print(f"threads {threads} round {round_} {who:8s} {wall:7.2f} s wall, {CPU_SECONDS[0]:7.2f} s CPU, "
                      f"test {accuracy:.4f}  ({before})", flush=True)
            ratios.append(walls["purenet"] / walls["torch"])
            cpu_ratios.append(cpus["purenet"] / cpus["torch"])
            print(f"threads {threads} round {round_} purenet / torch = {ratios[-1]:.3f} wall, {cpu_ratios[-1]:.3f} CPU",
                  flush=True)
        print(f"threads {threads}: median ratio purenet / torch {statistics.median(ratios):.3f} wall "
              f"(rounds {', '.join(f'{r:.3f}' for r in ratios)}), {statistics.median(cpu_ratios):.3f} CPU "
              f"(rounds {', '.join(f'{r:.3f}' for r in cpu_ratios)}); test accuracy purenet "
              f"{statistics.mean(accuracies['purenet']):.4f}, torch {statistics.mean(accuracies['torch']):.4f}", flush=True)


def epoch_table(args: argparse.Namespace) -> None:
    builds = {"new": args.purenet} if args.compare is None else {"old": args.compare, "new": args.purenet}
    for threads in args.threads:
        for name, options in CONFIGS.items():
            seconds: dict[str, list[float]] = {build: [] for build in builds}
            cpu: dict[str, list[float]] = {build: [] for build in builds}
            for round_ in range(1, args.rounds + 1):
                order = list(builds) if round_ % 2 else list(builds)[::-1]
                for build in order:
                    before = load()
                    _, records = purenet_run(builds[build], args, threads, ["--epochs", "2", *options])
                    epochs = [r["seconds"] for r in records if r.get("event") == "epoch"]
                    seconds[build].extend(epochs)
                    cpu[build].append(CPU_SECONDS[0])
                    print(f"threads {threads} {name:10s} {build}: epochs {', '.join(f'{s:.3f}' for s in epochs)} s, "
                          f"process {CPU_SECONDS[0]:.2f} s CPU ({before})", flush=True)
            medians = {build: statistics.median(values) for build, values in seconds.items()}
            cpus = {build: statistics.median(values) for build, values in cpu.items()}
            line = ", ".join(f"{build} {value:.3f} s (process {cpus[build]:.2f} s CPU)" for build, value in medians.items())
            if "old" in medians:
                line += f", new/old {medians['new'] / medians['old']:.3f} (CPU {cpus['new'] / cpus['old']:.3f})"
            print(f"threads {threads} {name}: median epoch {line}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--data", type=Path, default=Path("data/mnist"))
    parser.add_argument("--purenet", default="purenet", help="the purenet command to time")
    parser.add_argument("--epoch-table", action="store_true", help="time epochs by configuration instead")
    parser.add_argument("--compare", help="with --epoch-table: another build's purenet command, timed in turn")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, {load()}", flush=True)
    (epoch_table if args.epoch_table else whole_runs)(args)


if __name__ == "__main__":
    main()
