"""Corpus cases of the second hostile review (issue 22): outputs that reach the data by other
names, mirrors that are not web addresses.

Registered in ``corpus_cases.CASES`` by ``corpus_cases._load_more_cases``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from corpus_cases import IMAGES, SMALL, World, _ck, case, class_folders, fifo, idx_folder, mnist_here, then, train

LABELS_GZ = "t10k-labels-idx1-ubyte.gz"


# --- an output the data's reader reaches by another name: a hard link, a link inside the data ---------------


def _hard_link_to_data(w: World, here: Path, name: str) -> str:
    """A hard link ``name`` to a file of the IDX folder ``mnist``."""
    idx_folder(w, here / "mnist")
    os.link(here / "mnist" / LABELS_GZ, here / name)
    return "mnist"


def _data_linking_out(w: World, here: Path) -> str:
    """An IDX folder whose labels file is a link to keep/labels.gz, outside it."""
    idx_folder(w, here / "mnist")
    (here / "keep").mkdir()
    os.rename(here / "mnist" / LABELS_GZ, here / "keep" / "labels.gz")
    (here / "mnist" / LABELS_GZ).symlink_to("../keep/labels.gz")
    return "mnist"


def _class_folder_linking_out(w: World, here: Path) -> str:
    """Class folders whose folder 3 is a link to threes/, outside them."""
    class_folders(w, here / "digits", per_class=2)
    os.rename(here / "digits" / "3", here / "threes")
    (here / "digits" / "3").symlink_to("../threes")
    return "digits"


case("review-out-force-a-hard-link-to-a-data-file", lambda w, here: train(_hard_link_to_data(w, here, "m.npz"), "--force"),
     needle="m.npz")
case("review-log-force-a-hard-link-to-a-data-file",
     lambda w, here: train(_hard_link_to_data(w, here, "run.csv"), "--force", "--log", "run.csv"), needle="run.csv")
case("review-report-force-a-picture-hard-linked-to-a-data-file",
     lambda w, here: then((here / "R").mkdir(), _hard_link_to_data(w, here, "R/curves.png"),
                          ["evaluate", _ck(w, here), "--data", "mnist", "--report", "R", "--force"]), needle="curves.png")
case("review-out-force-the-file-a-data-link-leads-to",
     lambda w, here: train(_data_linking_out(w, here), "--force", out="keep/labels.gz"),
     needle="keep/labels.gz")
case("review-out-in-the-folder-a-class-link-leads-to",
     lambda w, here: train(_class_folder_linking_out(w, here), out="threes/m.npz"),
     needle="threes/m.npz")
case("review-report-in-the-folder-a-class-link-leads-to",
     lambda w, here: ["evaluate", _ck(w, here), "--data", _class_folder_linking_out(w, here), "--report", "threes/R"],
     needle="threes/R")
case("review-out-beside-linked-class-folders-works", lambda w, here: train(_class_folder_linking_out(w, here), out="m.npz"),
     code=0, lines=None)
case("review-out-hard-linked-outside-the-data-works",
     lambda w, here: then(mnist_here(w, here), _ck(w, here, "m.npz"), os.link(here / "m.npz", here / "copy.npz"), train("mnist")),
     code=0, lines=None, changes=["m.npz"])


# --- mirrors: web addresses, or file: URLs of a folder whose files are checked (a FIFO, a device: refused) -------


def _file_mirror(make: Callable[[Path], object]) -> Callable[[World, Path], list[str]]:
    def build(w: World, here: Path) -> list[str]:
        (here / "mirror").mkdir()
        make(here / "mirror" / f"{IMAGES}.gz")
        return ["download", "d", "--mirror", (here / "mirror").as_uri() + "/"]
    return build


case("review-download-file-mirror-of-a-fifo", _file_mirror(fifo), needle="file://", process=True)
case("review-download-file-mirror-of-dev-zero", _file_mirror(lambda path: path.symlink_to("/dev/zero")), needle="file://",
     process=True)
case("review-download-data-url-mirror", lambda w, here: ["download", "d", "--mirror", "data:,hello"], needle="data:,hello")
case("review-download-ftp-mirror", lambda w, here: ["download", "d", "--mirror", "ftp://127.0.0.1:9/"], needle="ftp://")
case("review-download-mirror-without-a-host", lambda w, here: ["download", "d", "--mirror", "http://"], needle="http://")
case("review-download-file-mirror-on-another-host", lambda w, here: ["download", "d", "--mirror", "file://elsewhere/mnist/"],
     needle="file://elsewhere")
case("review-download-file-mirror-in-the-environment", lambda w, here: ["download", "d"], needle="file:///",
     env={"PURENET_MIRRORS": "file:///nowhere/"}, process=True)


# --- layer lists: digits are 0-9, as for every whole number typed (int() takes '٧٨٤' and '７') -----------------

UNICODE_LAYERS = {"arabic-indic-width": "\u0667\u0668\u0664,16,10", "fullwidth-width": "784,\uff11\uff16,10",
                  "arabic-indic-conv": "conv\u0663k5,10", "arabic-indic-dropout-rate": "784,dropout\u0660.5,10"}
for _label, _layers in UNICODE_LAYERS.items():
    case(f"review-train-layers-{_label}", lambda w, here, _l=_layers: train(mnist_here(w, here), "--layers", _l),
         needle="--layers")
    case(f"review-summary-layers-{_label}", lambda w, here, _l=_layers: ["summary", "--layers", _l], needle="--layers")
    case(f"review-bench-layers-{_label}",
         lambda w, here, _l=_layers: ["bench", "--layers", _l, "--seconds", "0.01", "--repeats", "1"],
         needle="--layers")


# --- the state file (where purenet remembers the last model) is no output: rewritten after each save ------------


def _state_folder(here: Path) -> str:
    (here / "state" / "purenet").mkdir(parents=True)
    return "state/purenet/last-model"


case("review-out-is-the-state-file", lambda w, here: train(mnist_here(w, here), out=_state_folder(here)), needle="last-model")
case("review-out-force-is-the-state-file", lambda w, here: train(mnist_here(w, here), "--force", out=_state_folder(here)),
     needle="last-model")
case("review-log-is-the-state-file", lambda w, here: train(mnist_here(w, here), "--log", _state_folder(here)),
     needle="last-model")
case("review-out-links-to-the-state-file",
     lambda w, here: then((here / "m.npz").symlink_to(_state_folder(here)), train(mnist_here(w, here))), needle="m.npz")


# --- outputs named as purenet's own lock and temporary files (a lock held over them, a stale temp removed) --------

case("review-log-is-the-lock-file-of-out", lambda w, here: train(mnist_here(w, here), "--log", ".m.npz.lock"),
     needle=".m.npz.lock")
case("review-out-is-the-lock-file-of-log", lambda w, here: train(mnist_here(w, here), "--log", "run.csv", out=".run.csv.lock"),
     needle=".run.csv.lock")
case("review-out-named-as-a-temporary-file", lambda w, here: train(mnist_here(w, here), out=".m.npz.123.0123abcd.tmp"),
     needle=".m.npz.123")
case("review-export-named-as-a-lock-file", lambda w, here: ["export", _ck(w, here), "-o", ".ck.npz.lock"], needle=".ck.npz.lock")


# --- an output named with a final '.' or '..' names a folder (Path drops the '.': a file took the folder's name) ----

for _option, _args in (("out", lambda value: ["--out", value]), ("log", lambda value: ["--log", value])):
    for _label, _value in (("newdir-dot", "newdir/."), ("dot", "."), ("dotdot", "sub/..")):
        case(f"review-train-{_option}-{_label}",
             lambda w, here, _a=_args, _v=_value: then(mnist_here(w, here), ["train", *SMALL, "--data", "mnist", *_a(_v)]),
             needle=f"--{_option}")
case("review-export-o-newdir-dot", lambda w, here: ["export", _ck(w, here), "-o", "newdir/."], needle="-o")
