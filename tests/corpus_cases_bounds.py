"""Corpus cases: bounds of every layer field, compressed bombs, memory (issue 22).

A layer field out of bounds (a stride of 10**20, a kernel of 0, 10**8 filters, a pool of
10**9, ...) is refused in one line naming the layer, whether it comes from ``--layers``
or from a tampered checkpoint whose arrays were reshaped to match it (so that only the
bounds can refuse it), for every command that opens a checkpoint.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np
from corpus_cases import World, case, mnist_here, npz_bytes, then, train

# --- tampered convolutional checkpoints -----------------------------------------------------------


def conv_checkpoint(w: World, path: Path, sizes: list, shapes: dict[str, tuple[int, ...]]) -> None:
    """A checkpoint of the layer list ``sizes`` with adam's two slots, holding arrays of ``shapes``
    ("1.w": (3, 3, 1, 4), ...): the real checkpoint's metadata with its layer lists replaced, so
    that everything but the layer list is what ``purenet train`` wrote."""
    meta = w.base_meta
    meta["arch"]["sizes"] = sizes
    meta["config"]["layers"] = sizes
    arrays = {"meta": np.array(json.dumps(meta))}
    rng = np.random.default_rng(0)
    for prefix in ("param", "slot.0", "slot.1"):
        for key, shape in shapes.items():
            values = rng.standard_normal(shape) * 0.01 if prefix != "slot.1" else np.full(shape, 1e-4)
            arrays[f"{prefix}.{key}"] = values.astype(np.float32)
    path.write_bytes(npz_bytes(**arrays))


def _conv(token: str, flat: int, kernel: int = 3, filters: int = 4) -> tuple[list, dict]:
    """784, one convolution ``token``, 10 outputs; ``flat`` numbers reach the dense layer."""
    return [784, token, 10], {"1.w": (kernel, kernel, 1, filters), "1.b": (filters,), "3.w": (flat, 10), "3.b": (10,)}


TAMPERED_CONV: dict[str, tuple[list, dict]] = {
    "stride-1e20": _conv("conv4k3s100000000000000000000", 4),  # once loaded: OverflowError in im2col
    "stride-past-the-image": _conv("conv4k3s29", 4),
    "stride-zero": _conv("conv4k3s0", 4),
    "kernel-zero": _conv("conv4k0", 28 * 28 * 4, kernel=0),
    "kernel-2000": _conv("conv4k2000", 28 * 28 * 4, kernel=2000),
    "filters-zero": _conv("conv0k3", 0, filters=0),
    "filters-negative": _conv("conv-4k3", 28 * 28 * 4),
    "filters-1e8": _conv("conv100000000k3", 28 * 28, filters=1),
    "filters-a-float": _conv("conv4.0k3", 28 * 28 * 4),
    "kernel-huge-activations": _conv("conv1k1000", 28 * 28, kernel=1000, filters=1),
    "pool-1e9": ([784, "maxpool1000000000", 10], {"2.w": (1, 10), "2.b": (10,)}),
    "avgpool-29": ([784, "avgpool29", 10], {"2.w": (1, 10), "2.b": (10,)}),
    "width-a-float": ([784, "conv4k3", 16.0, 10], {"1.w": (3, 3, 1, 4), "1.b": (4,), "3.w": (3136, 16), "3.b": (16,),
                                                   "4.w": (16, 10), "4.b": (10,)}),
    "width-2e6": ([784, 2_000_000, 10], {"0.w": (784, 1), "0.b": (1,), "1.w": (1, 10), "1.b": (10,)}),
    "input-2e6": ([2_000_000, 10], {"0.w": (1, 10), "0.b": (10,)}),
}
"""Layer lists a tampered checkpoint may hold, with arrays shaped as far as the list allows."""

COMMANDS: dict[str, Callable[[World, Path], list[str]]] = {
    "evaluate": lambda w, here: ["evaluate", "ck.npz"],
    "predict": lambda w, here: then((here / "digit.png").write_bytes(w.digit_png), ["predict", "--model", "ck.npz", "digit.png"]),
    "resume": lambda w, here: ["train", "--resume", "ck.npz", "--epochs", "3"],
    "export": lambda w, here: ["export", "ck.npz", "--out", "m.onnx"],
}


def _tampered_conv(name: str, command: str) -> Callable[[World, Path], list[str]]:
    def build(w: World, here: Path) -> list[str]:
        conv_checkpoint(w, here / "ck.npz", *TAMPERED_CONV[name])
        return COMMANDS[command](w, here)
    return build


for _name in TAMPERED_CONV:
    for _command in COMMANDS:
        case(f"bounds-checkpoint-{_command}-{_name}", _tampered_conv(_name, _command), needle="ck.npz")


def _control(command: str) -> Callable[[World, Path], list[str]]:
    """The same forgery with a layer list in bounds: it loads and runs (so the refusals above are the bounds')."""
    def build(w: World, here: Path) -> list[str]:
        conv_checkpoint(w, here / "ck.npz", *_conv("conv4k3s2", 14 * 14 * 4))
        return COMMANDS[command](w, here)
    return build


case("bounds-checkpoint-evaluate-control-in-bounds", _control("evaluate"), code=0, lines=None)
case("bounds-checkpoint-predict-control-in-bounds", _control("predict"), code=0, lines=None)
case("bounds-checkpoint-export-control-in-bounds", _control("export"), code=0, lines=None)


# --- the same fields in --layers ------------------------------------------------------------------

BAD_LAYERS = {
    "stride-1e20": "conv4k3s99999999999999999999,10",
    "stride-past-the-image": "conv4k3s29,10",
    "stride-zero": "conv4k3s0,10",
    "kernel-zero": "conv4k0,10",
    "kernel-2000": "conv4k2000,10",
    "filters-zero": "conv0k3,10",
    "filters-negative": "conv-4k3,10",
    "filters-1e8": "conv100000000k3,10",
    "filters-a-float": "conv4.5k3,10",
    "kernel-huge-activations": "conv1k1000,10",
    "pool-1e9": "pool1000000000,10",
    "pool-digits-5000": "pool" + "9" * 5000 + ",10",
    "avgpool-29": "avgpool29,10",
    "width-2e6": "784,2000000,10",
    "parameters-1.8e9": "784,1000000,1000,10",
    "second-conv-stride-past-its-image": "conv4k3,pool2,conv4k3s15,10",
}
for _name, _layers in BAD_LAYERS.items():
    case(f"bounds-layers-train-{_name}", lambda w, here, _layers=_layers: train(mnist_here(w, here), "--layers", _layers),
         needle="--layers")
for _name in ("stride-1e20", "filters-1e8", "pool-1e9"):
    case(f"bounds-layers-bench-{_name}", lambda w, here, _layers=BAD_LAYERS[_name]:
         ["bench", "--seconds", "0.01", "--repeats", "1", "--layers", _layers], needle="--layers")
case("bounds-layers-train-stride-28-works", lambda w, here: train(mnist_here(w, here), "--layers", "conv2k3s28,10"),
     code=0, lines=None, changes=())


# --- decompression bombs: data and checkpoints of a few KB that expand to 128 MiB --------------------

from bombs import METHODS, archive, member, npy_header, stored  # noqa: E402

BOMB_IMAGES = 2 * 64 * 2**20 // 784  # 128 MiB of 28x28 images


def bomb_data(method: str) -> Callable[[World, Path], str]:
    def make(w: World, here: Path) -> str:
        kind = METHODS[method]
        (here / "bomb.npz").write_bytes(archive([member("x_train", (BOMB_IMAGES, 28, 28), np.uint8, kind),
                                                 member("y_train", (BOMB_IMAGES,), np.uint8, kind)]))
        return "bomb.npz"
    return make


def liar_data(method: str) -> Callable[[World, Path], str]:
    """300 images declared, a stream of 128 MiB: the directory and the headers lie alike."""
    def make(w: World, here: Path) -> str:
        kind = METHODS[method]
        declared = len(npy_header((300, 28, 28), np.uint8)) + 300 * 784
        (here / "bomb.npz").write_bytes(archive([
            member("x_train", (300, 28, 28), np.uint8, kind, zeros=BOMB_IMAGES * 784, declared=declared),
            stored("y_train", w.train_y)]))
        return "bomb.npz"
    return make


def bomb_checkpoint(method: str, lie: bool = False) -> Callable[[World, Path], None]:
    """The real checkpoint with its first weights replaced: 60 MB declared where the network
    has (784, 16); or (``lie``) the right size declared, and a stream of 60 MB."""
    def make(w: World, path: Path) -> None:
        members = [stored(name, array) for name, array in w.base_arrays.items() if name != "param.0.w"]
        if lie:
            declared = len(npy_header((784, 16), np.float32)) + 784 * 16 * 4
            bomb = member("param.0.w", (784, 16), np.float32, METHODS[method], zeros=60 * 2**20, declared=declared)
        else:
            bomb = member("param.0.w", (784, 20_000), np.float32, METHODS[method])
        path.write_bytes(archive([*members, bomb]))
    return make


def bomb_meta(method: str) -> Callable[[World, Path], None]:
    """A file --out would replace, whose "meta" declares 400 bytes and streams 60 MB: only its
    start is read to learn that it is no checkpoint of ours."""
    def make(w: World, path: Path) -> None:
        declared = len(npy_header((), "<U100")) + 400
        members = [stored(name, array) for name, array in w.base_arrays.items() if name != "meta"]
        path.write_bytes(archive([member("meta", (), "<U100", METHODS[method], zeros=60 * 2**20, declared=declared),
                                  *members]))
    return make


for _method in METHODS:
    case(f"bounds-bomb-train-data-{_method}", lambda w, here, _m=_method: train(bomb_data(_m)(w, here)), needle="bomb.npz")
    case(f"bounds-bomb-train-data-lying-{_method}", lambda w, here, _m=_method: train(liar_data(_m)(w, here)),
         needle="bomb.npz")
    case(f"bounds-bomb-evaluate-data-{_method}", lambda w, here, _m=_method: then(
        (here / "ck.npz").write_bytes(w.base.read_bytes()), ["evaluate", "ck.npz", "--data", bomb_data(_m)(w, here)]),
        needle="bomb.npz")
    for _lie in (False, True):
        for _command in COMMANDS:
            case(f"bounds-bomb-checkpoint-{'lying-' if _lie else ''}{_command}-{_method}",
                 lambda w, here, _m=_method, _l=_lie, _c=_command: then(bomb_checkpoint(_m, _l)(w, here / "ck.npz"),
                                                                       COMMANDS[_c](w, here)),
                 needle="ck.npz")
    case(f"bounds-bomb-train-out-{_method}", lambda w, here, _m=_method: then(
        bomb_meta(_m)(w, here / "bomb.npz"), train(mnist_here(w, here), out="bomb.npz")),
        needle="bomb.npz")
