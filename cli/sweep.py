"""``purenet sweep SPEC``: run a sweep file's trials on local processes or a Dask cluster, and show it.

The work is the library's (``purenet.apps.sweep``): this module checks the request,
makes the executor (``--jobs`` local processes, or ``--scheduler`` a Dask cluster's),
and renders the driver's events: a live table on a terminal, one line per event in a
log, one JSON object per event with ``--json``. ``--show`` prints the study so far, best
first, and writes the best trial's RunConfig JSON, which ``purenet train --config``
reproduces bit for bit.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Optional

from purenet.base.words import counted
from purenet.cli.console import Terminated, fail, plain_output, say, stdout_console, stopped_by
from purenet.cli.extras import needs_extra


def shown(path) -> str:
    """A path as the user would type it: relative to the current folder when it is inside it."""
    import os

    relative = os.path.relpath(path)
    return str(path) if relative.startswith("..") else relative


def run_sweep_command(spec_path: Path, storage: Optional[str], jobs: Optional[int], scheduler: Optional[str],
                      json_output: bool, show: bool, plot: Optional[Path], threads: str) -> None:
    try:
        import optuna  # noqa: F401 - only to know the extra is installed, before any other work
    except ImportError:
        fail(needs_extra("purenet sweep", "sweep"))
    from purenet.apps.sweep.spec import SpecError, read_spec
    from purenet.apps.sweep.study import SweepError, open_study

    try:
        spec = read_spec(spec_path)
    except SpecError as error:
        fail(f"{spec_path}: {error}" if not str(error).startswith(str(spec_path)) else str(error))
    url = storage or spec.default_storage
    if plot is not None and plot.suffix.lower() not in (".png", ".svg", ".pdf"):
        fail(f"--plot {plot}: give a picture's file name ending in .png, .svg or .pdf")
    try:
        study = open_study(spec, url)
    except SweepError as error:
        fail(str(error))
    except Exception as error:  # a storage URL Optuna cannot open (no driver, no server)
        fail(f"--storage {url}: cannot open the study ({type(error).__name__}: {str(error).splitlines()[0]})")
    if show:
        show_study(spec, study, json_output, plot)
        return
    _sweep(spec, study, url, jobs, scheduler, json_output, threads, storage or shown(spec.path.with_suffix(".db")))
    if plot is not None:
        _plot(spec, study, plot)


def _sweep(spec, study, url: str, jobs: Optional[int], scheduler: Optional[str], json_output: bool, threads: str,
           where_stored: str) -> None:
    from purenet.apps.sweep.study import local_executor, run_sweep, threads_per_worker
    from purenet.apps.threads import parse_threads, usable_cores

    asked = parse_threads(threads)
    if scheduler is not None:
        client = _dask_client(scheduler)
        jobs = jobs or max(1, sum(client.nthreads().values()))
        per_worker = asked or 1
        make = client.get_executor
        where = f"the Dask cluster at {scheduler}, {jobs} at a time, {counted(per_worker, 'BLAS thread')} each"
    else:
        client = None
        jobs = jobs or len(usable_cores())
        per_worker = asked or threads_per_worker(jobs)
        where = f"{counted(jobs, 'local worker process', 'local worker processes')}, {counted(per_worker, 'BLAS thread')} each"

        def make():
            return local_executor(jobs, per_worker)

    view = SweepView(spec, json_output)
    say(f"sweep {spec.path.name}: {spec.trials} trials ({spec.search}, {spec.objective}) in {where_stored}; {where}")
    try:
        with view.live():
            result = run_sweep(spec, study, url, make, jobs, on_event=view.event, threads=per_worker,
                               settings={"blas_threads": per_worker})
    except (KeyboardInterrupt, Terminated) as error:
        what, code = stopped_by(error)
        say(f"{what}: every finished trial is kept in {where_stored}; the trials running were queued again; continue with the "
            "same command")
        import typer

        raise typer.Exit(code) from None
    finally:
        if client is not None:
            client.close()
    best = "" if result.best_number is None else f"; best: trial {result.best_number}, {spec.objective} {result.best_value:.4f}"
    say(f"{result.complete} complete, {result.pruned} pruned, {result.failed} failed of {result.requested}{best}; "
        f"purenet sweep {shown(spec.path)} --show lists them")


def _dask_client(address: str):
    try:
        from distributed import Client
    except ImportError:
        fail(needs_extra("purenet sweep --scheduler", "sweep"))
    try:
        return Client(address, timeout="20s")
    except (OSError, TimeoutError, ValueError) as error:
        fail(f"--scheduler {address}: cannot reach the Dask scheduler ({str(error).splitlines()[0]})")


# --- the live view -------------------------------------------------------------------------------


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


class SweepView:
    """Renders the driver's events: JSON lines, plain lines, or a live rich table."""

    def __init__(self, spec, json_output: bool) -> None:
        self.spec, self.json_output, self.plain = spec, json_output, plain_output()
        self.names = [d.name for d in spec.dimensions]
        self.rows: dict[int, dict] = {}
        self._live = None

    def live(self):
        import contextlib

        if self.json_output or self.plain:
            return contextlib.nullcontext()
        from rich.live import Live

        self._live = Live(self._table(), console=stdout_console(), refresh_per_second=4)
        return self._live

    def event(self, event) -> None:
        if self.json_output:
            print(json.dumps({"event": event.kind, **{k: v for k, v in event.to_json().items() if k != "kind"}}), flush=True)
            return
        row = self.rows.setdefault(event.number, {"params": event.params, "started": time.monotonic()})
        row.update(state=event.state if event.kind != "requeue" else "queued again", by_epoch=event.by_epoch or
                   row.get("by_epoch", ()), seconds=event.seconds, reason=event.reason)
        if self.plain:
            if event.kind in ("end", "requeue"):
                print(self._line(event.number, row), flush=True)
            return
        if self._live is not None:
            self._live.update(self._table())

    def _line(self, number: int, row: dict) -> str:
        params = " ".join(f"{name}={_value(row['params'].get(name))}" for name in self.names)
        scores = " ".join(f"{v:.4f}" for v in row["by_epoch"]) or "-"
        why = f" ({row['reason']})" if row.get("reason") and row["state"] != "pruned" else ""
        return f"trial {number}: {params}; {self.spec.objective} by epoch {scores}; {row['state']}{why}"

    def _table(self):
        from rich import box
        from rich.table import Table

        table = Table("trial", *self.names, f"{self.spec.objective} by epoch", "state", "time",
                      box=box.SIMPLE_HEAD, title=f"sweep {self.spec.path.name}", title_justify="left")
        for number, row in sorted(self.rows.items()):
            seconds = row["seconds"] if row.get("seconds") is not None else time.monotonic() - row["started"]
            state = row["state"] + (f": {row['reason']}" if row.get("reason") and row["state"] == "failed" else "")
            table.add_row(str(number), *(_value(row["params"].get(n)) for n in self.names),
                          " ".join(f"{v:.4f}" for v in row["by_epoch"]) or "-", state, f"{seconds:.1f}s")
        return table


# --- the study so far ----------------------------------------------------------------------------


def show_study(spec, study, json_output: bool, plot: Optional[Path]) -> None:
    """The trials best first; the best trial's RunConfig JSON written beside its checkpoint."""
    from purenet.apps.sweep.study import best_trial, trials_best_first, write_config

    trials = trials_best_first(study)
    names = [d.name for d in spec.dimensions]
    rows = [_trial_row(trial) for trial in trials]
    best = best_trial(study)
    written = None
    if best is not None and "config" in best.user_attrs:
        written = spec.folder / "best.json"
        try:
            write_config(written, best.user_attrs["config"])
        except OSError as error:
            fail(f"{written}: cannot write the best trial's settings ({error.strerror or error})")
    if json_output:
        print(json.dumps({"trials": rows, "best": None if best is None else best.number,
                          "config": None if written is None else str(written)}))
    elif not rows:
        say(f"{spec.path.name}: no trial yet in this study")
    else:
        _print_rows(spec, rows, names)
    if written is not None:
        threads = best.user_attrs.get("threads")
        again = f" --threads {threads}" if threads else ""
        say(f"best: trial {best.number}, {spec.objective} {best.value:.4f}; its settings are in {shown(written)}; "
            f"purenet train --config {shown(written)}{again} trains it again, bit for bit")
    if plot is not None:
        _plot(spec, study, plot)


def _trial_row(trial) -> dict:
    values = trial.intermediate_values
    return {"number": trial.number, "state": trial.state.name.lower().replace("fail", "failed"),
            "value": trial.value if trial.state.name == "COMPLETE" else None,
            "params": dict(trial.params), "by_epoch": [values[k] for k in sorted(values)],
            "seconds": trial.user_attrs.get("seconds"), "reason": trial.user_attrs.get("reason", ""),
            "checkpoint": trial.user_attrs.get("checkpoint")}


def _print_rows(spec, rows: list[dict], names: list[str]) -> None:
    header = ("trial", *names, spec.objective, "by epoch", "state", "seconds")
    cells = [(str(r["number"]), *(_value(r["params"].get(n, "-")) for n in names),
              "-" if r["value"] is None else f"{r['value']:.4f}", " ".join(f"{v:.4f}" for v in r["by_epoch"]) or "-",
              r["state"] + (f": {r['reason']}" if r["reason"] and r["state"] == "failed" else ""),
              "-" if r["seconds"] is None else f"{r['seconds']:.1f}") for r in rows]
    if plain_output():
        widths = [max(len(h), *(len(c[k]) for c in cells)) for k, h in enumerate(header)]
        for line in (header, *cells):
            print("  ".join(f"{c:<{w}}" for c, w in zip(line, widths)).rstrip())
        return
    from rich import box
    from rich.table import Table

    table = Table(*header, box=box.SIMPLE_HEAD, title=f"sweep {spec.path.name}, best first", title_justify="left")
    for line in cells:
        table.add_row(*line)
    stdout_console().print(table)


def _plot(spec, study, path: Path) -> None:
    """A picture of the objective against each varied setting (needs the plot extra)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        fail(needs_extra("purenet sweep --plot", "plot"))
    from purenet.io.writing import atomic_write

    trials = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    dimensions = spec.dimensions or ()
    if not trials or not dimensions:
        say("--plot: no complete trial with a varied setting yet; no picture written")
        return
    figure, axes = plt.subplots(1, len(dimensions), figsize=(4 * len(dimensions), 3.2), squeeze=False)
    for axis, dimension in zip(axes[0], dimensions):
        xs = [t.params[dimension.name] for t in trials if dimension.name in t.params]
        ys = [t.value for t in trials if dimension.name in t.params]
        if dimension.kind == "choice":
            labels = [str(c) for c in dimension.choices]
            axis.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=8)
            xs = [labels.index(str(x)) for x in xs]
        elif dimension.kind == "log":
            axis.set_xscale("log")
        axis.scatter(xs, ys, s=18)
        axis.set_xlabel(dimension.name)
        axis.set_ylabel(spec.objective)
    figure.tight_layout()
    atomic_write(path, lambda handle: figure.savefig(handle, format=path.suffix.lstrip(".").lower() or "png"))
    plt.close(figure)
    say(f"wrote {path}")
