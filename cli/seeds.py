"""``purenet train --seeds 0,1,2``: one recipe's seeds trained side by side, then their mean and spread.

Every seed's run is checked as ``purenet train --seed S --out RUN-sS.npz`` checks it
(options, the file to write, the data's place) before any worker starts, and a mistake
is one line with nothing written. The runs go to worker processes
(``purenet.apps.seeds``: as many as the cores allow, BLAS threads set in each), each
saving its checkpoint after every epoch; a line says each seed's result as it finishes,
and a table ends with each seed's test accuracy, the mean and the spread (``--json``:
one object per seed, then a summary). Ctrl-C (or SIGTERM) stops every worker and says in
one line what each file holds: finished runs are kept whole, a stopped run's file holds
its last saved epoch (``purenet train --resume`` continues it).
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Sequence

import typer

from purenet.apps.seeds import SeedPool, SeedResult, mean_and_spread, parse_seeds, plan_workers, seed_paths
from purenet.apps.threads import parse_threads, user_setting
from purenet.cli.console import EXIT_DIVERGED, Terminated, fail, say, stdout_console, stopped_by
from purenet.cli.download import ensure_default_data
from purenet.cli.train import check_request, held_locks
from purenet.data import default_data_dir
from purenet.io.lock import OutputLock

if TYPE_CHECKING:
    from purenet.cli.app import TrainRequest

ALONE = {"seed": "--seed", "resume": "--resume", "log": "--log", "every": "--every", "show_predictions": "--show-predictions",
         "dry_run": "--dry-run"}
"""Options of one run that --seeds does not take: the field and the option's name."""


def run_seeds(request: TrainRequest, explicit: frozenset[str]) -> None:
    """Train every seed of ``request.seeds`` (the other options as for one run) and report them."""
    try:
        seeds = parse_seeds(request.seeds or "")
    except ValueError as error:
        fail(f"--seeds: {error}")
    for field, option in ALONE.items():
        if field in explicit and getattr(request, field) not in (None, False, 0):
            fail(f"--seeds trains new runs, one per seed, and does not take {option}: leave it out "
                 "(or train one run without --seeds)")
    outs = seed_paths(request.out or Path("model.npz"), seeds)
    typed = explicit | {"seed", "out"}
    checked = [check_request(dataclasses.replace(request, seed=seed, out=out, seeds=None), typed)
               for seed, out in zip(seeds, outs)]
    threads = parse_threads(request.threads)
    variable = user_setting() if threads is None else None
    plan = plan_workers(len(seeds), threads, environment=None if variable is None else "=".join(variable))
    if checked[0].config.data is None:
        ensure_default_data(default_data_dir())  # once, here, not in every worker
    before = {out: _stamp(out) for out in outs}
    say(f"training {len(seeds)} seeds ({', '.join(map(str, seeds))}): {plan.reason}")
    results: dict[int, SeedResult] = {}
    try:
        with held_locks([OutputLock(out) for out in outs]), SeedPool(plan) as pool:  # as train locks its one
            for result in pool.results([(item.config, item.options.out) for item in checked]):
                if result.error is not None:
                    fail(f"seed {result.seed}: {result.error}")  # the same settings would fail every seed
                results[result.seed] = result
                _said(result, request.json_output)
    except (KeyboardInterrupt, Terminated) as error:
        what, code = stopped_by(error)
        say(f"{what}: {_kept(seeds, outs, results, before)}")
        raise typer.Exit(code) from None
    ordered = [results[seed] for seed in seeds]
    if request.json_output:
        print(json.dumps(_summary(ordered, plan, checked[0].config.to_json())), flush=True)
    else:
        _table(ordered)
    diverged = [result for result in ordered if result.diverged is not None]
    if diverged:
        fail(f"training diverged for seed {', '.join(str(r.seed) for r in diverged)}: {diverged[0].diverged}; "
             "each file holds its last good epoch. Try a smaller --lr", code=EXIT_DIVERGED)


def _stamp(path: Path) -> Optional[tuple[int, int, int]]:
    """What identifies a file's version: inode, size, modification time (None: no file)."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_ino, info.st_size, info.st_mtime_ns


def _kept(seeds: Sequence[int], outs: Sequence[Path], results: dict[int, SeedResult], before: dict) -> str:
    """What each seed's file holds after a stop, in one line."""
    from purenet.runs.checkpoint import CheckpointError
    from purenet.runs.checkpoint import load as load_checkpoint

    parts, resumable = [], None
    for seed, out in zip(seeds, outs):
        if seed in results:
            parts.append(f"{out} finished (epoch {results[seed].epoch})")
        elif _stamp(out) in (None, before[out]):
            parts.append(f"{out} not saved")
        else:
            try:
                parts.append(f"{out} holds epoch {load_checkpoint(out).epoch}")
                resumable = resumable or out
            except CheckpointError:
                parts.append(f"{out} unreadable")
    more = f"; continue a run with: purenet train --resume {resumable}" if resumable else ""
    return "; ".join(parts) + more


def _said(result: SeedResult, json_output: bool) -> None:
    """One seed done: a JSON object (--json), else a line on stdout."""
    if json_output:
        print(json.dumps({"event": "seed", **result.to_json()}), flush=True)
        return
    state = "diverged" if result.diverged is not None else "done"
    print(f"seed {result.seed} {state}: {result.out}, epoch {result.epoch}, test accuracy {_percent(result.test_acc)} "
          f"({result.seconds:.0f} s)", flush=True)


def _summary(results: Sequence[SeedResult], plan, settings: dict) -> dict:
    accuracies = [r.test_acc for r in results if r.finished and r.test_acc is not None]
    mean, spread = mean_and_spread(accuracies) if accuracies else (None, None)
    return {"event": "summary", "seeds": [r.to_json() for r in results], "test_acc_mean": mean, "test_acc_std": spread,
            "runs": len(accuracies), "workers": plan.to_json(), "settings": {**settings, "seed": None}}


def _table(results: Sequence[SeedResult]) -> None:
    from rich.table import Table

    table = Table("seed", "checkpoint", "epochs", "test accuracy", "validation", "time",
                  title="one run per seed", title_justify="left")
    for column in table.columns[2:]:
        column.justify = "right"
    for r in results:
        accuracy = _percent(r.test_acc) + (" (diverged)" if r.diverged is not None else "")
        table.add_row(str(r.seed), r.out, str(r.epoch), accuracy, _percent(r.val_acc), f"{r.seconds:.0f} s")
    accuracies = [r.test_acc for r in results if r.finished and r.test_acc is not None]
    if accuracies:
        mean, spread = mean_and_spread(accuracies)
        table.add_section()
        table.add_row("mean", f"of {len(accuracies)} runs", "", f"{100 * mean:.2f}%", "", "")
        table.add_row("spread", "sample std", "", f"{100 * spread:.2f}%", "", "")
    stdout_console().print(table)


def _percent(value: Optional[float]) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"
