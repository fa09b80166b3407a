"""The PyTorch reference recipe that ``benchmarks/default_run.py`` times against ``purenet train``.

    python benchmarks/torch_reference.py [--data data/mnist] [--epochs 20] [--threads 2] [--seed 0]

A PyTorch user's plain MNIST script, written out: 784-200-200-10 ReLU (PyTorch's default
initialisation), softmax cross-entropy, SGD with Nesterov momentum 0.9 at a rate of 0.05
(purenet's default rate for ``--optimizer nesterov``) annealed to 0 on a cosine over every
step, batches of 128 reshuffled each epoch, no augmentation, ``torch.set_num_threads``
threads. It reads MNIST's four IDX files itself (gzipped or not) and ends by printing one
JSON line: the test accuracy and the seconds spent loading, training and evaluating.

PyTorch is never a dependency of purenet: install it beside it to run this script.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn


def read_idx(path: Path) -> np.ndarray:
    """One IDX file (``.gz`` or not) as a uint8 array of the shape its header gives."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as file:
        data = file.read()
    dims = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def find(folder: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    raise SystemExit(f"no {stem} in {folder}")


def load(folder: Path, kind: str) -> tuple[torch.Tensor, torch.Tensor]:
    images = read_idx(find(folder, f"{kind}-images-idx3-ubyte"))
    labels = read_idx(find(folder, f"{kind}-labels-idx1-ubyte"))
    x = torch.from_numpy(images.reshape(len(images), -1).astype(np.float32) / 255)
    return x, torch.from_numpy(labels.astype(np.int64))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("data/mnist"))
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    started = time.perf_counter()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    x_train, y_train = load(args.data, "train")
    x_test, y_test = load(args.data, "t10k")
    loaded = time.perf_counter()

    model = nn.Sequential(nn.Linear(784, 200), nn.ReLU(), nn.Linear(200, 200), nn.ReLU(), nn.Linear(200, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, nesterov=True)
    steps_per_epoch = math.ceil(len(x_train) / args.batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs * steps_per_epoch)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(args.epochs):
        model.train()
        order = torch.randperm(len(x_train))
        for start in range(0, len(x_train), args.batch_size):
            index = order[start : start + args.batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x_train[index]), y_train[index])
            loss.backward()
            optimizer.step()
            schedule.step()
    trained = time.perf_counter()

    model.eval()
    with torch.no_grad():
        accuracy = (model(x_test).argmax(dim=1) == y_test).double().mean().item()
    done = time.perf_counter()
    print(json.dumps({"test_acc": accuracy, "load_s": loaded - started, "train_s": trained - loaded,
                      "eval_s": done - trained, "threads": args.threads, "epochs": args.epochs}))


if __name__ == "__main__":
    main()
