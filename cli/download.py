"""``purenet download`` and the automatic download of the default data folder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn, Sequence

from purenet.cli.console import Terminated, fail, plain_output, say, stopped_by, warn
from purenet.data import default_data_dir
from purenet.data.download import MIRRORS, DownloadCallback, DownloadError, ensure_mnist, has_mnist, matches_mnist, mnist_files
from purenet.io.outputs import WriteRefused


def mirrors(given: Sequence[str] = ()) -> tuple[str, ...]:
    """The mirrors to try: those given, else ``$PURENET_MIRRORS`` (space-separated), else the public ones."""
    if given:
        return tuple(given)
    return tuple(os.environ.get("PURENET_MIRRORS", "").split()) or MIRRORS


def run_download(folder: Path | None, given_mirrors: Sequence[str] = ()) -> Path:
    """Fetch into ``folder`` (default: the default data folder) the MNIST files it lacks, verified.

    Files already there are kept untouched whatever their content; says what it fetched and
    what it kept. Exits 2 with one line on a failure; 130 on Ctrl-C (143 on SIGTERM, 129 on SIGHUP).
    """
    folder = folder or default_data_dir()
    existed = os.path.isdir(folder)  # os.path: never raises, even for a name too long
    kept = mnist_files(folder)
    try:
        if plain_output():
            ensure_mnist(folder, mirrors=mirrors(given_mirrors), progress=_plain_progress())
        else:
            _download_with_bar(folder, mirrors(given_mirrors))
        fetched = [path for name, path in mnist_files(folder).items() if name not in kept]
        say(_summary(folder, fetched, list(kept.values())))
        differing = [path for name, path in kept.items() if not matches_mnist(path, name)]
    except (DownloadError, WriteRefused) as error:
        fail(str(error))
    except (KeyboardInterrupt, Terminated) as interruption:
        _interrupted(folder, kept, existed, interruption)
    if differing:
        # A note, and exit 0: purenet reads any IDX files under these names (Fashion-MNIST,
        # KMNIST, a subset), so other content is not by itself a mistake, and the command did
        # all it may do without replacing the user's files. A non-zero exit would fail every
        # later run on such a folder (and `purenet train`, which downloads through here) with
        # nothing the user could fix but deleting their own data.
        warn(_differing_note(differing, fetched))
    return folder


def ensure_default_data(folder: Path) -> None:
    """The library's ``ensure_mnist`` for the default data folder, its progress shown: fetches
    what the folder lacks the first time it is needed."""
    if has_mnist(folder):
        return
    # No announcement first: a download says each file as it starts, and a failure says it
    # all in its one line (what is missing, where, and what to do offline).
    run_download(folder)


def _summary(folder: Path, fetched: list[Path], kept: list[Path]) -> str:
    if not fetched:
        return f"{folder} already holds all four files: kept them untouched ({_names(kept)}); fetched nothing"
    if len(fetched) == 1:
        text = f"fetched {_names(fetched)} into {folder}, verified by the SHA-256 of its content"
    else:
        text = f"fetched {_names(fetched)} into {folder}, each verified by the SHA-256 of its content"
    if kept:
        text += f"; kept {'the file' if len(kept) == 1 else f'the {len(kept)} files'} already there untouched ({_names(kept)})"
    return text


def _differing_note(differing: list[Path], fetched: list[Path]) -> str:
    one = len(differing) == 1
    mixed = ""
    if fetched:
        mixed = (f"; the {'file' if len(fetched) == 1 else 'files'} fetched now {'is' if len(fetched) == 1 else 'are'} MNIST's, "
                 "so the folder mixes two data sets")
    return (
        f"kept {_names(differing)} as {'it is' if one else 'they are'}, though {'its' if one else 'their'} "
        f"content differs from MNIST's published SHA-256 (another data set, or a modified copy){mixed}; "
        f"to get MNIST's, move {'it' if one else 'them'} away and run purenet download again"
    )


def _interrupted(folder: Path, kept: dict[str, Path], existed: bool, interruption: BaseException) -> NoReturn:
    """One line on what an interruption (Ctrl-C, SIGTERM, SIGHUP) left: the files fetched (whole and
    verified), those kept, no folder made in vain; then exit 128 + the signal's number."""
    import typer

    fetched = [path for name, path in mnist_files(folder).items() if name not in kept]
    parts = [f"{_names(fetched)} (fetched, complete and verified)"] if fetched else []
    parts += [f"{_names(kept.values())} (already there, untouched)"] if kept else []
    if parts:
        text = f"kept {' and '.join(parts)} in {folder}; no partial file is left"
    else:
        text = "nothing was written" + ("" if existed or folder.exists() else ", and no folder is left behind")
    what, code = stopped_by(interruption)
    say(f"{what}: {text}; run the same command again to fetch the rest")
    raise typer.Exit(code)


def _names(paths) -> str:
    return ", ".join(path.name for path in paths)


def _plain_progress() -> DownloadCallback:
    """A download callback for plain output: one line as each file starts, with its size when the server gives it."""
    started: set[str] = set()

    def report(name: str, done: int, total: int | None) -> None:
        if name not in started:
            started.add(name)
            size = f" ({total / 1e6:.1f} MB)" if total and total >= 1e5 else f" ({total / 1e3:.0f} kB)" if total else ""
            say(f"downloading {name}{size}")

    return report


def _download_with_bar(folder: Path, urls: tuple[str, ...]) -> None:
    """Download MNIST with a rich progress bar on stderr (``_with_bar``)."""
    _with_bar(lambda report: ensure_mnist(folder, mirrors=urls, progress=report))


def run_download_named(name: str, folder: Path | None = None, given_mirrors: Sequence[str] = (), *,
                       say_kept: bool = False) -> Path:
    """Fetch the files of the data set ``name`` its folder lacks (``purenet download --data NAME``, and
    the first use of ``--data NAME``), verified, with progress; files already there are kept untouched.
    Exits 2 with one line on a failure (offline: which files, and where to put them); 130 on Ctrl-C."""
    from purenet.data import DataError
    from purenet.data.named import dataset_folder, ensure_named, get, missing

    try:
        dataset = get(name)
    except DataError as error:  # an unknown name
        fail(str(error))
    if dataset.name == "mnist":
        return run_download(folder, given_mirrors)
    folder = folder or dataset_folder(name)
    lacking = [remote.name for remote in missing(name, folder)]
    if not lacking:
        if say_kept:  # purenet download: say that nothing was needed; a run's first use says nothing
            say(f"{folder} already holds {dataset.title}: kept its files untouched; fetched nothing")
        return folder
    urls = tuple(given_mirrors) or tuple(os.environ.get("PURENET_MIRRORS", "").split()) or dataset.mirrors
    try:
        if plain_output():
            ensure_named(name, folder, mirrors=urls, progress=_plain_progress())
        else:
            _with_bar(lambda report: ensure_named(name, folder, mirrors=urls, progress=report))
    except DownloadError as error:
        fail(str(error))
    except (KeyboardInterrupt, Terminated) as interruption:
        import typer

        still = {remote.name for remote in missing(name, folder)}
        fetched = [file for file in lacking if file not in still]
        kept = f"kept {', '.join(fetched)} (fetched, complete and verified) in {folder}; " if fetched else ""
        what, code = stopped_by(interruption)
        say(f"{what}: {kept}no partial file is left; run the same command again to fetch the rest")
        raise typer.Exit(code) from None
    say(f"fetched {', '.join(lacking)} of {dataset.title} into {folder}, verified by {dataset.checksums}")
    return folder


def _with_bar(download) -> None:
    """Run ``download(progress)`` with a rich progress bar on stderr: one row per file (bytes, speed, time left)."""
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, TextColumn, TimeRemainingColumn, TransferSpeedColumn
    from rich.progress import Progress as RichProgress

    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn())
    with RichProgress(*columns, console=Console(stderr=True)) as bar:
        tasks: dict[str, int] = {}  # file name -> its row in the bar (rich's task id)

        def report(name: str, done: int, total: int | None) -> None:
            if name not in tasks:
                tasks[name] = bar.add_task(name, total=total)
            bar.update(tasks[name], completed=done, total=total)

        download(report)
