"""Corpus cases: every option and argument of every command, given a value it must refuse.

The list of options is read from the command tree itself, so an option added later is
covered too: for each one that takes a value, an empty value, a blank one, spaces
around a good value and, by kind, whole numbers in other spellings or out of range
(``2.0``, ``1e30``, ``1_000``, a thousand digits) and numbers that are none
(``nan``, ``inf``, ``1e400``, ``1_0``). Each must be one line naming the option.
Then the values that only the data can refuse (a validation split of no image).
"""

from __future__ import annotations

from pathlib import Path

import typer
from corpus_cases import case, holds_epoch, mnist_here, then, train

GOOD = {"int": "1", "number": "0.5", "path": "m.npz", "text": "x"}
"""A value of each kind that the option takes (the spaces around it are the mistake)."""

BAD_WHOLE = {
    "float-spelling": "2.0", "exponent": "1e30", "underscores": "1_000", "thousand-digits": "1" * 1000,
    "beyond-int64": str(2**63), "hex": "0x10", "nan": "nan", "inf": "inf", "fullwidth-digit": "\uff15",
}
BAD_NUMBER = {"nan": "nan", "inf": "inf", "minus-inf": "-inf", "1e400": "1e400", "underscores": "1_0", "comma": "0,5", "hex": "0x10"}

COMMAND_ARGS = {"predict": ["digit.png"]}
"""What a command needs besides the option under test (never reached: the option is refused first)."""


def _parameters() -> list[tuple[str, object]]:
    """(command, parameter) for every parameter of every command that takes a value."""
    from purenet.cli.app import app

    group = typer.main.get_command(app)
    found = []
    for command_name, command in sorted(group.commands.items()):
        for param in command.params:
            if not getattr(param, "is_flag", False):
                found.append((command_name, param))
    return found


def _kind(param) -> str:
    from purenet.cli.console import value_kind

    return "choice" if (param.metavar or "").startswith("[") else value_kind(param) or "text"


def _name(param) -> str:
    return max(param.opts, key=len) if param.param_type_name == "option" else param.name.upper()


def _args(command: str, param, value: str) -> list[str]:
    if param.param_type_name == "option":
        return [command, _name(param), value, *COMMAND_ARGS.get(command, [])]
    return [command, value]  # the argument itself


def _good(param, kind: str) -> str:
    if kind == "choice":
        return param.metavar[1:-1].split(", ")[0]
    if _name(param) == "--port":
        return "8000"
    return GOOD[kind]


for _command, _param in _parameters():
    _kind_of = _kind(_param)
    _values = {"empty": "", "blank": "  ", "space-before": " " + _good(_param, _kind_of), "space-after": _good(_param, _kind_of) + "\t"}
    if _kind_of == "int":
        _values.update(BAD_WHOLE)
    if _kind_of == "number":
        _values.update(BAD_NUMBER)
    for _label, _value in _values.items():
        case(f"options-{_command}-{_name(_param).strip('-').lower()}-{_label}",
             lambda w, here, _c=_command, _p=_param, _v=_value: _args(_c, _p, _v), needle=_name(_param))


# --- numbers in range for the parser but not for any sensible run ------------------------------------------

case("options-bench-seconds-a-year", lambda w, here: ["bench", "--seconds", "3e7"], needle="--seconds")
case("options-bench-repeats-a-million", lambda w, here: ["bench", "--seconds", "0.01", "--repeats", "1000000"], needle="--repeats")


# --- values only the data can refuse ------------------------------------------------------------------

def _on_mnist(*extra: str):
    return lambda w, here: train(mnist_here(w, here), *extra)


case("options-train-val-fraction-1e-300-holds-out-nothing", _on_mnist("--val-fraction", "1e-300"), needle="--val-fraction")
case("options-train-val-fraction-below-one-image", _on_mnist("--val-fraction", "0.001"), needle="--val-fraction")  # 0.3 of an image
case("options-train-val-fraction-one-image-works", _on_mnist("--val-fraction", "0.004"), code=0, lines=None,
     after=holds_epoch("m.npz", 1))
case("options-train-every-beyond-the-epoch-works", _on_mnist("--every", "1000000"), code=0, lines=None, after=holds_epoch("m.npz", 1))
case("options-train-act-any-case-works", _on_mnist("--act", "ReLU"), code=0, lines=None, after=holds_epoch("m.npz", 1))


# --- --log refuses what --out refuses: the checkpoint, the data, a file purenet did not write ---------------

def _resumed_log(w, here) -> list[str]:
    (here / "ck.npz").write_bytes(w.base.read_bytes())
    return ["train", "--resume", "ck.npz", "--epochs", "2", "--out", "new.npz", "--log", "ck.npz"]


def _notes(here: Path) -> str:
    (here / "notes.txt").write_text("my notes\n")
    return "notes.txt"


def _log_rows(name: str, epochs: int):
    def check(here: Path, result, w) -> None:
        import csv

        with open(here / name, newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert [int(row["epoch"]) for row in rows] == list(range(1, epochs + 1))
    return check


case("options-train-log-is-the-out", _on_mnist("--log", "m.npz"), needle="--log")
case("options-train-log-is-the-out-through-a-link", lambda w, here: then((here / "alias.csv").symlink_to("m.npz"),
                                                                        train(mnist_here(w, here), "--log", "alias.csv")), needle="alias.csv")
case("options-train-log-is-the-resumed-checkpoint", _resumed_log, needle="ck.npz")
case("options-train-log-in-the-data-folder", _on_mnist("--log", "mnist/log.csv"), needle="mnist/log.csv")
case("options-train-log-is-a-data-file", lambda w, here: then(mnist_here(w, here), train("mnist", "--log", "mnist/t10k-labels-idx1-ubyte.gz")),
     needle="t10k-labels")
case("options-train-log-notes-not-ours", lambda w, here: train(mnist_here(w, here), "--log", _notes(here)), needle="notes.txt")
case("options-train-log-a-folder", lambda w, here: then((here / "logs").mkdir(), train(mnist_here(w, here), "--log", "logs")), needle="logs")
case("options-train-log-in-a-missing-folder", _on_mnist("--log", "no/such/run.csv"), needle="no/such")
case("options-train-log-notes-with-force-works", lambda w, here: train(mnist_here(w, here), "--log", _notes(here), "--force"),
     code=0, lines=None, changes=["notes.txt"], after=_log_rows("notes.txt", 1))
case("options-train-log-works", _on_mnist("--log", "run.csv"), code=0, lines=None, after=_log_rows("run.csv", 1))
