"""``purenet datasets``: the data sets ``--data`` takes by name, and whether each is here yet."""

from __future__ import annotations

import json

from purenet.cli.console import plain_output, stdout_console
from purenet.data.named import DATASETS, facts


def show_datasets(json_output: bool) -> None:
    """One row per named data set (a table, or one JSON object with ``--json``)."""
    rows = [facts(name) for name in DATASETS]
    if json_output:
        print(json.dumps({"datasets": rows}))
        return
    shown = [(row["name"], _classes(row["classes"]), f"{row['train']:,} / {row['test']:,}", row["licence"],
              row["source"], _present(row)) for row in rows]
    headers = ("name", "classes", "train / test", "licence", "source", "here")
    if plain_output():  # one line a data set, never wrapped or cut: for logs and grep
        for line in shown:
            print("  ".join(line))
        return
    from rich import box
    from rich.table import Table

    table = Table(*headers, title="data sets by name (purenet train --data NAME; fetched on first use)",
                  title_justify="left", box=box.SIMPLE_HEAD)
    for column in table.columns:
        column.overflow = "fold"
    for line in shown:
        table.add_row(*line)
    stdout_console().print(table)


def _classes(names: list[str]) -> str:
    listed = ", ".join(names) if len(names) <= 10 else f"{', '.join(names[:5])}, ... {names[-1]}"
    return f"{len(names)}: {listed}"


def _present(row: dict) -> str:
    if row["present"]:
        return f"yes ({row['folder']})"
    size = row["download_bytes"]
    return "no" + (f" ({size / 2**20:.0f} MiB to fetch)" if size else "")
