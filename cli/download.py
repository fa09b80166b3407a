"""``purenet download`` and the automatic download of the default data folder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from purenet.cli.console import fail, plain_output, say
from purenet.data import default_data_dir, missing_idx_files
from purenet.download import MIRRORS, DownloadError, download_mnist


def mirrors(given: Sequence[str] = ()) -> tuple[str, ...]:
    """The mirrors to try: those given, else ``$PURENET_MIRRORS`` (space-separated), else the public ones."""
    if given:
        return tuple(given)
    return tuple(os.environ.get("PURENET_MIRRORS", "").split()) or MIRRORS


def run_download(folder: Path | None, given_mirrors: Sequence[str] = ()) -> Path:
    """Fetch MNIST's four files into ``folder`` (default: the default data folder), verified."""
    folder = folder or default_data_dir()
    try:
        if plain_output():
            download_mnist(folder, mirrors=mirrors(given_mirrors), progress=_plain_progress())
        else:
            _download_with_bar(folder, mirrors(given_mirrors))
    except DownloadError as error:
        fail(str(error))
    say(f"MNIST is in {folder} (four files, each verified by the SHA-256 of its content)")
    return folder


def ensure_default_data(folder: Path) -> None:
    """Download MNIST into the default data folder the first time it is needed."""
    if folder.is_dir() and not missing_idx_files(folder):
        return
    say(f"MNIST is not in {folder}: downloading it (or point --data at a copy you have)")
    run_download(folder)


def _plain_progress():
    """A progress callback that says one line as each file starts."""
    started: set[str] = set()

    def report(name: str, done: int, total: int | None) -> None:
        if name not in started:
            started.add(name)
            size = f" ({total / 1e6:.1f} MB)" if total else ""
            say(f"downloading {name}{size}")

    return report


def _download_with_bar(folder: Path, urls: tuple[str, ...]) -> None:
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True)) as bar:
        tasks: dict[str, int] = {}

        def report(name: str, done: int, total: int | None) -> None:
            if name not in tasks:
                tasks[name] = bar.add_task(name, total=total)
            bar.update(tasks[name], completed=done, total=total)

        download_mnist(folder, mirrors=urls, progress=report)
