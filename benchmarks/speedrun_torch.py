"""A purenet recipe run in PyTorch on the CPU: the same layers, optimizer, schedule, augmentation and epochs.

    python benchmarks/speedrun_torch.py --layers 784,conv16k3,bn,pool2,conv32k3,bn,pool2,10 \\
        --optimizer adam --lr 0.01 --schedule onecycle --label-smoothing 0.1 --epochs 3 --threads 2
    python benchmarks/speedrun_torch.py ... --val-fraction 0.0833333   # choose recipes on held-out images

Prints one line of JSON: the recipe, the accuracy on the test set (or, with --val-fraction,
on the validation images held out of the training set, never the test set), and the seconds
spent loading, training, evaluating and in the whole script (``wall``, from its first line;
time the whole process with ``/usr/bin/time -v`` to include the interpreter's start), the
process's CPU seconds (with --threads 1 a measure of the work that moves less than the wall
with the machine's load) and the 1-minute load average at the end.

The recipe is read in purenet's terms so that the two can be compared run for run:

- the layer list as ``purenet train --layers`` takes it: a width is a dense layer, ``convFkK``
  a convolution of F filters of KxK (``sS`` a stride, ``valid`` no padding, else "same"
  padding, the odd extra row at the bottom and right as purenet and TensorFlow pad),
  ``pool2``/``maxpool2`` and ``avgpool2`` (rows beyond the last whole window dropped),
  ``dropoutP``, ``bn`` (BatchNorm over channels, or over units after a dense layer) and
  ``flatten``. Conv and dense layers apply the activation themselves, so ``conv32k3,bn`` is
  conv -> relu -> BatchNorm; the last width is the output layer, with no activation;
- weights He-normal (N(0, 2 / fan_in)) and biases zero, as purenet's ``auto`` init for relu;
- the optimizers as purenet defines them (sgd; momentum and nesterov with beta 0.9, PyTorch's
  form; Adam with b1 0.9, b2 0.999, eps 1e-8), L2 weight decay on weights only;
- the learning rate of each step from purenet's own ``make_schedule`` (constant, step,
  cosine, onecycle, with --warmup epochs), so the schedules are the same numbers;
- batches drawn as purenet draws them (one permutation per epoch from a NumPy generator)
  and augmented by purenet's own ``Augmenter`` (none, mild, affine, elastic as
  ``purenet train --augment`` names them); the validation split is purenet's
  ``split_validation`` with the seed purenet's run uses for it;
- the MNIST IDX files read by this script (``--data``, default data/mnist).

Images are NCHW here, NHWC in purenet: the same numbers in another order.
``--check`` builds the layer list in both, gives the torch network purenet's initial weights
(in float64) and prints the largest difference of their logits on random images: about 1e-15
when the layers mean the same (BatchNorm and dropout aside: their training passes differ).
"""

from __future__ import annotations

import time

_STARTED = time.perf_counter()

import argparse  # noqa: E402
import gzip  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (gzipped or not) as a uint8 array of its dimensions."""
    if not path.exists() and path.with_suffix(path.suffix + ".gz").exists():
        path = path.with_suffix(path.suffix + ".gz")
    data = (gzip.open if path.suffix == ".gz" else open)(path, "rb").read()
    dims = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims))
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def load(folder: Path, part: str) -> tuple[np.ndarray, np.ndarray]:
    images, labels = (read_idx(folder / name) for name in FILES[part])
    return images.reshape(len(images), -1), labels


def build(layers: list[str], act: str):
    """The torch.nn.Sequential of a purenet layer list (input width first)."""
    import torch
    from torch import nn

    activations = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "elu": nn.ELU,
                   "leaky_relu": lambda: nn.LeakyReLU(0.01), "identity": nn.Identity}
    width = int(layers[0])
    side = math.isqrt(width)
    shape: tuple[int, ...] = (width,)  # (features,) or (channels, rows, cols)
    modules: list[nn.Module] = []
    last_width = max(i for i, token in enumerate(layers) if token.isdigit())
    for i, token in enumerate(layers[1:], start=1):
        conv = re.fullmatch(r"conv(\d+)k(\d+)(?:s(\d+))?(valid)?", token)
        pool = re.fullmatch(r"(max|avg)?pool(\d+)", token)
        if conv:
            if len(shape) == 1:
                modules.append(nn.Unflatten(1, (1, side, side)))
                shape = (1, side, side)
            filters, k, stride = int(conv[1]), int(conv[2]), int(conv[3] or 1)
            c, h, w = shape
            if conv[4]:
                oh, ow = (h - k) // stride + 1, (w - k) // stride + 1
            else:
                oh, ow = -(-h // stride), -(-w // stride)
                pad_h, pad_w = max((oh - 1) * stride + k - h, 0), max((ow - 1) * stride + k - w, 0)
                if pad_h or pad_w:
                    modules.append(nn.ZeroPad2d((pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2)))
            layer = nn.Conv2d(c, filters, k, stride=stride)
            nn.init.normal_(layer.weight, 0.0, math.sqrt(2.0 / (k * k * c)))
            nn.init.zeros_(layer.bias)
            modules += [layer, activations[act]()]
            shape = (filters, oh, ow)
        elif pool:
            size = int(pool[2])
            modules.append((nn.AvgPool2d if pool[1] == "avg" else nn.MaxPool2d)(size))
            shape = (shape[0], shape[1] // size, shape[2] // size)
        elif token == "bn":
            modules.append(nn.BatchNorm1d(shape[0]) if len(shape) == 1 else nn.BatchNorm2d(shape[0]))
        elif token.startswith("dropout"):
            modules.append(nn.Dropout(float(token[len("dropout"):] or 0.5)))
        elif token == "flatten":
            pass  # dense layers flatten their input themselves, below
        elif token.isdigit():
            if len(shape) == 3:
                modules.append(nn.Flatten())  # CHW order here, HWC in purenet: the same units, permuted
                shape = (shape[0] * shape[1] * shape[2],)
            layer = nn.Linear(shape[0], int(token))
            nn.init.normal_(layer.weight, 0.0, math.sqrt(2.0 / shape[0]))
            nn.init.zeros_(layer.bias)
            modules.append(layer)
            if i != last_width:
                modules.append(activations[act]())
            shape = (int(token),)
        else:
            raise SystemExit(f"speedrun_torch.py: unknown layer {token!r}")
    return torch.nn.Sequential(*modules)


def parse(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--layers", default="784,conv16k3,bn,pool2,conv32k3,bn,pool2,10")
    parser.add_argument("--act", default="relu")
    parser.add_argument("--optimizer", default="adam", choices=("sgd", "momentum", "nesterov", "adam"))
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--weight-decay", type=float, default=0.0)
    parser.add_argument("--schedule", default="onecycle", choices=("constant", "step", "cosine", "onecycle"))
    parser.add_argument("--warmup", type=float, default=0.0, help="epochs of linear warm-up")
    parser.add_argument("--decay-every", type=float, default=1.0)
    parser.add_argument("--gamma", type=float, default=0.85)
    parser.add_argument("--label-smoothing", type=float, default=0.0)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--augment", default="none", choices=("none", "mild", "affine", "elastic"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--val-fraction", type=float, default=0.0,
                        help="hold this fraction of the training set out and report accuracy on it, not on the test set")
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "mnist")
    parser.add_argument("--check", action="store_true", help="compare the layers with purenet's on random images, and stop")
    return parser.parse_args(argv)


def check(layers: list[str], act: str) -> float:
    """The largest |logit difference| of purenet's network and this script's with purenet's weights."""
    import attrs
    import torch
    from torch import nn

    from purenet import forward, init

    params = init([int(t) if t.isdigit() else t for t in layers], act=act, rng=0, dtype=np.float64)
    params = attrs.evolve(params, layers=[attrs.evolve(layer, b=np.asarray(layer.b) + 0.1) if hasattr(layer, "w") else layer
                                          for layer in params.layers])  # non-zero biases, so they are compared too
    model = build(layers, act).double().eval()
    modules = list(model)
    image = None  # (C, H, W) entering the first dense layer, whose rows purenet orders H, W, C
    permuted = False
    x = torch.zeros(1, int(layers[0]), dtype=torch.float64)
    ours = iter(layer for layer in params.layers if hasattr(layer, "w"))
    for module in modules:
        if isinstance(module, nn.Flatten) and image is None:
            image = tuple(x.shape[1:])
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            layer = next(ours)
            w = np.asarray(layer.w)
            if isinstance(module, nn.Conv2d):
                module.weight.data = torch.from_numpy(w.transpose(3, 2, 0, 1).copy())  # (K, K, C, F) -> (F, C, K, K)
            else:
                if image is not None and not permuted:
                    c, h, width = image
                    w = w.reshape(h, width, c, -1).transpose(2, 0, 1, 3).reshape(c * h * width, -1)
                    permuted = True
                module.weight.data = torch.from_numpy(w.T.copy())
            module.bias.data = torch.from_numpy(np.asarray(layer.b).copy())
        x = module(x)
    images = np.random.default_rng(1).random((8, int(layers[0])))
    with torch.no_grad():
        theirs = model(torch.from_numpy(images)).numpy()
    return float(np.abs(forward(params, images).logits - theirs).max())


def main(argv=None) -> None:
    args = parse(argv)
    if args.check:
        print(json.dumps({"layers": args.layers, "largest_logit_difference": check(args.layers.split(","), args.act)}))
        return
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch
    import torch.nn.functional as F

    from purenet.core.schedules import make_schedule
    from purenet.data import Split
    from purenet.data.splits import split_validation
    from purenet.runs.config import AUGMENTATIONS

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    started = time.perf_counter()
    train_images, train_labels = load(args.data, "train")
    if args.val_fraction:
        # the seeds as purenet.runs.run draws them: one SeedSequence spawned for init, split, training
        part, held = split_validation(Split(train_images, train_labels), args.val_fraction, _rngs(args.seed)["split"])
        train_images, train_labels = np.asarray(part.images), np.asarray(part.labels)
        eval_images, eval_labels = np.asarray(held.images), np.asarray(held.labels)
    else:
        eval_images, eval_labels = load(args.data, "test")
    load_seconds = time.perf_counter() - started

    layers = args.layers.split(",")
    model = build(layers, args.act)
    decayed = [p for name, p in model.named_parameters() if name.endswith("weight") and p.dim() > 1]
    others = [p for name, p in model.named_parameters() if not (name.endswith("weight") and p.dim() > 1)]
    groups = [{"params": decayed, "weight_decay": args.weight_decay}, {"params": others, "weight_decay": 0.0}]
    if args.optimizer == "adam":
        optimizer = torch.optim.Adam(groups, lr=args.lr, betas=(0.9, 0.999), eps=1e-8)
    else:
        optimizer = torch.optim.SGD(groups, lr=args.lr, momentum=0.0 if args.optimizer == "sgd" else 0.9,
                                    nesterov=args.optimizer == "nesterov")
    n = len(train_images)
    steps_per_epoch = -(-n // args.batch_size)
    schedule = make_schedule(args.schedule, args.lr, total_steps=args.epochs * steps_per_epoch,
                             steps_per_epoch=steps_per_epoch, warmup_epochs=args.warmup,
                             decay_every_epochs=args.decay_every, gamma=args.gamma)
    augment = AUGMENTATIONS[args.augment]
    rng = _rngs(args.seed)["train"]
    whole = torch.from_numpy(train_images.astype(np.float32) / np.float32(255)) if augment is None else None
    labels = torch.from_numpy(train_labels.astype(np.int64))

    started = time.perf_counter()
    step = 0
    model.train()
    for _ in range(args.epochs):
        order = rng.permutation(n)
        for start in range(0, n, args.batch_size):
            index = order[start: start + args.batch_size]
            if augment is None:
                x = whole[torch.from_numpy(index)]
            else:
                x = torch.from_numpy(augment(train_images[index], rng).astype(np.float32) / np.float32(255))
            for group in optimizer.param_groups:
                group["lr"] = schedule(step)
            loss = F.cross_entropy(model(x), labels[torch.from_numpy(index)], label_smoothing=args.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
    train_seconds = time.perf_counter() - started

    started = time.perf_counter()
    model.eval()
    correct = 0
    with torch.no_grad():
        x_all = torch.from_numpy(eval_images.astype(np.float32) / np.float32(255))
        for start in range(0, len(eval_images), 1000):
            logits = model(x_all[start: start + 1000])
            correct += int((logits.argmax(1).numpy() == eval_labels[start: start + 1000]).sum())
    eval_seconds = time.perf_counter() - started
    recipe = {key: (str(value) if isinstance(value, Path) else value) for key, value in vars(args).items() if key != "data"}
    print(json.dumps({
        "recipe": recipe, "split": "validation" if args.val_fraction else "test", "images": len(eval_images),
        "accuracy": correct / len(eval_images), "load_seconds": round(load_seconds, 2),
        "train_seconds": round(train_seconds, 2), "eval_seconds": round(eval_seconds, 2),
        "wall": round(time.perf_counter() - _STARTED, 2), "cpu_seconds": round(time.process_time(), 2),
        "load": os.getloadavg()[0], "torch": torch.__version__,
    }))


def _rngs(seed: int) -> dict[str, np.random.Generator]:
    """The generators a purenet run draws from (``purenet.runs.run.seeds``), by use."""
    from purenet.runs.run import seeds
    return dict(zip(("init", "split", "train"), seeds(seed)))


if __name__ == "__main__":
    main()
