"""Corpus cases: paths that are links, lock files that are not, names too long, outputs inside
inputs, files that would block a read (issue 22, "what a hostile tester found").

Registered in ``corpus_cases.CASES`` by ``corpus_cases._load_more_cases``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

from corpus_cases import (
    IMAGES,
    World,
    _ck,
    _idx,
    _notes,
    _set,
    case,
    checkpoint_bytes,
    class_folders,
    fifo,
    holds_epoch,
    idx_folder,
    mnist_here,
    then,
    train,
)

# --- --out through a link: the link is kept, its target gets the checkpoint --------------------------------


def _link_kept(link: str, target: str, epoch: int) -> Callable[[Path, Any, World], None]:
    def check(here: Path, result, w: World) -> None:
        assert os.path.islink(here / link) and os.readlink(here / link) == target, f"{link} is no longer a link to {target}"
        holds_epoch(target, epoch)(here, result, w)
    return check


case("out-link-to-a-checkpoint-is-written-through",
     lambda w, here: then(_ck(w, here, "real.npz"), (here / "link.npz").symlink_to("real.npz"),
                          train(mnist_here(w, here), out="link.npz")),
     code=0, lines=None, changes=["real.npz"], after=_link_kept("link.npz", "real.npz", 1))
case("out-link-into-a-subfolder-is-written-through",
     lambda w, here: then((here / "models").mkdir(), _ck(w, here, "models/real.npz"), (here / "link.npz").symlink_to("models/real.npz"),
                          train(mnist_here(w, here), out="link.npz")),
     code=0, lines=None, changes=["models/real.npz"], after=_link_kept("link.npz", "models/real.npz", 1))
case("out-link-loop", lambda w, here: then((here / "m.npz").symlink_to("m.npz"), train(mnist_here(w, here))), needle="m.npz")


# --- the lock file: never followed, never a special file, never a user's file -----------------------------------

case("lock-file-is-a-fifo", lambda w, here: then(fifo(here / ".m.npz.lock"), train(mnist_here(w, here))), needle=".m.npz.lock",
     process=True)
case("lock-file-links-to-users-notes", lambda w, here: then(_notes(here), (here / ".m.npz.lock").symlink_to("notes.txt"),
                                                            train(mnist_here(w, here))), needle=".m.npz.lock")
case("lock-file-links-to-an-empty-file", lambda w, here: then((here / "empty").write_bytes(b""), (here / ".m.npz.lock").symlink_to("empty"),
                                                              train(mnist_here(w, here))), needle=".m.npz.lock")
case("lock-file-is-a-dangling-link", lambda w, here: then((here / ".m.npz.lock").symlink_to("made-through-the-link"),
                                                          train(mnist_here(w, here))), needle=".m.npz.lock")
case("lock-file-is-a-hard-link-to-an-empty-file", lambda w, here: then((here / "empty").write_bytes(b""),
                                                                       os.link(here / "empty", here / ".m.npz.lock"),
                                                                       train(mnist_here(w, here))), needle=".m.npz.lock")
case("lock-file-of-the-link-target-is-a-fifo",
     lambda w, here: then((here / "models").mkdir(), _ck(w, here, "models/real.npz"), (here / "link.npz").symlink_to("models/real.npz"),
                          fifo(here / "models" / ".real.npz.lock"), train(mnist_here(w, here), out="link.npz")),
     needle=".real.npz.lock", process=True)


# --- names: too long for the temporary file, a folder's trailing slash ----------------------------------------------

LONG = "m" * 241 + ".npz"
"""245 characters: the name and its lock (.NAME.lock, 251) fit in 255, its temporary file does not."""

case("out-name-too-long-for-its-temp-file", lambda w, here: train(mnist_here(w, here), out=LONG), needle=LONG[:40])
# refused before the data is even read (an epoch would be lost otherwise): the line names --out, not the data
case("out-name-too-long-refused-before-the-data", lambda w, here: train("no-such-data", out=LONG), needle=LONG[:40])
case("export-name-too-long-for-its-temp-file", lambda w, here: ["export", _ck(w, here), "-o", "x" * 240 + ".onnx"], needle="x" * 40)
case("out-new-folder-with-a-trailing-slash", lambda w, here: train(mnist_here(w, here), out="newdir/"), needle="newdir/")
case("out-existing-folder-with-a-trailing-slash", lambda w, here: then((here / "models").mkdir(), train(mnist_here(w, here), out="models/")),
     needle="models/")
case("export-new-folder-with-a-trailing-slash", lambda w, here: ["export", _ck(w, here), "-o", "onnx/"], needle="onnx/")


# --- outputs that are, or are inside, what the command reads (even with --force) ------------------------------------


def _trained_on(data: str) -> Callable[[World, Path], str]:
    """A copy of the real checkpoint that says its run was trained on ``here/data``."""
    def make(w: World, here: Path) -> str:
        (here / "ck.npz").write_bytes(checkpoint_bytes(w, meta=_set("config.data", str(here / data))))
        return "ck.npz"
    return make


case("export-force-onto-its-own-checkpoint", lambda w, here: ["export", _ck(w, here), "-o", "ck.npz", "--force"], needle="ck.npz")
case("export-force-onto-a-link-to-its-checkpoint", lambda w, here: then(_ck(w, here), (here / "m.onnx").symlink_to("ck.npz"),
                                                                        ["export", "ck.npz", "-o", "m.onnx", "--force"]), needle="m.onnx")
case("export-force-onto-the-training-data", lambda w, here: then(_notes(here, "digits.csv"),
                                                                 ["export", _trained_on("digits.csv")(w, here), "-o", "digits.csv", "--force"]),
     needle="digits.csv")
case("export-into-the-training-data-folder", lambda w, here: then(idx_folder(w, here / "mnist"),
                                                                  ["export", _trained_on("mnist")(w, here), "-o", "mnist/model.onnx"]),
     needle="mnist/model.onnx")
case("report-inside-the-data-folder", lambda w, here: ["evaluate", _ck(w, here), "--data", _idx(True, n_test=10)(w, here), "--report", "mnist/R"],
     needle="mnist/R")
case("report-is-the-data-folder", lambda w, here: ["evaluate", _ck(w, here), "--data", _idx(True, n_test=10)(w, here), "--report", "mnist"],
     needle="mnist")
case("report-inside-the-trained-on-data-folder",
     lambda w, here: then(idx_folder(w, here / "mnist", n_test=10), ["evaluate", _trained_on("mnist")(w, here), "--report", "mnist"]),
     needle="mnist")


def _digits(w: World, here: Path) -> str:
    class_folders(w, here / "digits", per_class=2)
    return "digits"


case("out-inside-an-image-folder-data-set", lambda w, here: train(_digits(w, here), out="digits/m.npz"), needle="digits/m.npz")
case("out-inside-a-class-folder", lambda w, here: train(_digits(w, here), out="digits/3/m.npz"), needle="digits/3/m.npz")
case("out-inside-a-class-folder-force", lambda w, here: train(_digits(w, here), "--force", out="digits/3/m.npz"), needle="digits/3/m.npz")
case("out-named-like-a-raw-idx-file-beside-its-gz", lambda w, here: train(mnist_here(w, here), out=f"mnist/{IMAGES}"), needle=IMAGES)
case("out-a-link-into-the-data-folder", lambda w, here: then(mnist_here(w, here), (here / "m.npz").symlink_to(f"mnist/{IMAGES}.gz"),
                                                             train("mnist", "--force", out="m.npz")), needle="m.npz")


def _loop_in_a_class_folder(w: World, here: Path) -> list[str]:
    data = _digits(w, here)
    (here / "digits" / "3" / "x.png").symlink_to("x.png")
    return train(data)


case("data-symlink-loop-in-a-class-folder", _loop_in_a_class_folder, needle="x.png")


# --- files that would block a read: the state file, images under /dev ---------------------------------------------


def _state_file(make: Callable[[Path], Any]) -> Callable[[Path], Path]:
    def build(here: Path) -> Path:
        state = here / "state" / "purenet"
        state.mkdir(parents=True)
        make(state / "last-model")
        return state / "last-model"
    return build


_STATE_FIFO = _state_file(fifo)
_STATE_LINK_TO_FIFO = _state_file(lambda path: then(fifo(path.with_name("pipe")), path.symlink_to("pipe")))

for _kind, _make in (("fifo", _STATE_FIFO), ("link-to-a-fifo", _STATE_LINK_TO_FIFO)):
    case(f"predict-state-file-is-a-{_kind}", lambda w, here, make=_make: then(make(here), (here / "d.png").write_bytes(w.digit_png),
                                                                                ["predict", "d.png"]),
         needle=("purenet train", "model"), process=True)
    case(f"evaluate-state-file-is-a-{_kind}", lambda w, here, make=_make: then(make(here), ["evaluate"]),
         needle=("purenet train", "model"), process=True)
    case(f"export-state-file-is-a-{_kind}", lambda w, here, make=_make: then(make(here), ["export"]),
         needle=("purenet train", "model"), process=True)

case("predict-image-dev-zero", lambda w, here: ["predict", "--model", _ck(w, here), "/dev/zero"], needle="/dev/zero")
case("predict-image-link-to-dev-zero", lambda w, here: then((here / "z.png").symlink_to("/dev/zero"), ["predict", "--model", _ck(w, here), "z.png"]),
     needle="z.png")
case("predict-model-is-dev-zero", lambda w, here: then((here / "d.png").write_bytes(w.digit_png), ["predict", "--model", "/dev/zero", "d.png"]),
     needle="/dev/zero")
case("resume-from-a-fifo", lambda w, here: then(fifo(here / "run.npz"), ["train", "--resume", "run.npz"]), needle="run.npz", process=True)


# --- the other writers: report pictures through links, download beside links -------------------------------------


def _report_picture_linked(w: World, here: Path) -> list[str]:
    """R/confusion.png is a link to an earlier report's picture kept elsewhere."""
    (here / "old").mkdir()
    (here / "old" / "confusion.png").write_bytes(w.report["confusion.png"])
    (here / "R").mkdir()
    (here / "R" / "confusion.png").symlink_to("../old/confusion.png")
    return ["evaluate", _ck(w, here), "--report", "R", "--data", _idx(True, n_test=10)(w, here)]


def _picture_link_kept(here: Path, result, w: World) -> None:
    link = here / "R" / "confusion.png"
    assert link.is_symlink() and os.readlink(link) == "../old/confusion.png"
    assert (here / "old" / "confusion.png").read_bytes().startswith(b"\x89PNG")


case("report-picture-link-is-written-through", _report_picture_linked, code=0, lines=None, changes=["old/confusion.png"],
     after=_picture_link_kept)
case("report-picture-link-to-users-png", lambda w, here: then((here / "R").mkdir(), (here / "mine.png").write_bytes(w.digit_png),
                                                              (here / "R" / "curves.png").symlink_to("../mine.png"),
                                                              ["evaluate", _ck(w, here), "--report", "R", "--data", _idx(True, n_test=10)(w, here)]),
     needle="curves.png")
case("download-beside-a-dangling-link-named-like-a-file",
     lambda w, here: then((here / "d").mkdir(), (here / "d" / f"{IMAGES}.gz").symlink_to("nowhere"),
                          ["download", "d", "--mirror", "http://127.0.0.1:9/"]), needle=IMAGES, env={"PURENET_MIRRORS": "http://127.0.0.1:9/"})
case("download-beside-a-fifo-named-like-a-file",
     lambda w, here: then((here / "d").mkdir(), fifo(here / "d" / f"{IMAGES}.gz"),
                          ["download", "d", "--mirror", "http://127.0.0.1:9/"]), needle=IMAGES, env={"PURENET_MIRRORS": "http://127.0.0.1:9/"},
     process=True)
