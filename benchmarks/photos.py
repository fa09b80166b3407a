"""How many real photos of handwritten digits does purenet read right?

A development script, not part of the library or the test suite. It trains plain
MLPs with the library (Adam 1e-3, 8 epochs, batch 128, no augmentation; cached in
the system's temporary folder after the first run), and can add checkpoints made by ``purenet train`` (the
project's default recipe); then it runs ``purenet.photo.prepare.load_digit_image`` and
``purenet.predict`` on every photo listed in the photo folder's manifest.csv
(columns file, label, kind, width, height, source), and prints, per model, the
count read right and each miss with its true and predicted label and its kind.

The photos are not part of this repository: give a folder of photos, scans or
drawings of handwritten digits with its manifest.csv (docs/results.md) as
``--photos DIR``, or in ``$PURENET_PHOTOS``; the default is ``./photos``.

    python benchmarks/photos.py                          # two models: 784-512-256-10 seed 0, 784-256-10 seed 1
    python benchmarks/photos.py --models mlp512-256-s2 mlp800-s3 mlp200-200-s4   # three more
    python benchmarks/photos.py --sheet sheet.png   # also a contact sheet of the 28x28 inputs
    python benchmarks/photos.py --checkpoint model.npz    # also a model trained by `purenet train --out model.npz`
    python benchmarks/photos.py --photos DIR --mnist DIR

The photos are for measuring only: nothing here is fitted to them.
"""

from __future__ import annotations

import argparse
import csv
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from purenet import Adam, Arch, Dense, Params, init, predict, train
from purenet.apps.allocator import tune_malloc
from purenet.data import load
from purenet.photo.prepare import ImageError, load_digit_image
from purenet.runs.checkpoint import load as load_checkpoint

ROOT = Path(__file__).resolve().parent.parent
MODELS = {
    "mlp512-256-s0": ([784, 512, 256, 10], 0),
    "mlp256-s1": ([784, 256, 10], 1),
    "mlp512-256-s2": ([784, 512, 256, 10], 2),
    "mlp800-s3": ([784, 800, 10], 3),
    "mlp200-200-s4": ([784, 200, 200, 10], 4),
}
DEFAULT_MODELS = ["mlp512-256-s0", "mlp256-s1"]


def model(name: str, mnist_dir: Path, cache_dir: Path, epochs: int = 8) -> Params:
    """The params of model ``name``: from ``cache_dir`` if trained before, else trained now."""
    sizes, seed = MODELS[name]
    cache = cache_dir / f"purenet-photos-{name}-e{epochs}.npz"
    if cache.exists():
        arrays = np.load(cache)
        layers = [Dense(w=arrays[f"w{i}"], b=arrays[f"b{i}"]) for i in range(len(sizes) - 1)]
        return Params(arch=Arch(layers=sizes, act="relu", loss="ce"), layers=layers)
    mnist = load(mnist_dir)
    params = init(sizes, act="relu", rng=np.random.default_rng(seed))
    for record in train(params, mnist.train, optimizer=Adam(1e-3), epochs=epochs, batch_size=128,
                        rng=np.random.default_rng(seed), test=mnist.test):
        params = record.params
        print(f"  {name} epoch {record.epoch}: test accuracy {record.test_acc:.4f}")
    np.savez(cache, **{f"{k}{i}": getattr(layer, k) for i, layer in enumerate(params.layers) for k in "wb"})
    return params


def read_manifest(folder: Path) -> list[dict[str, str]]:
    """The rows of ``folder``/manifest.csv: file, label, kind, width, height, source."""
    with open(folder / "manifest.csv", newline="") as f:
        return list(csv.DictReader(f))


def digits(folder: Path, rows: list[dict[str, str]]) -> tuple[np.ndarray, list[float]]:
    """Every photo preprocessed: (N, 28, 28) uint8, and the seconds each took."""
    out, seconds = [], []
    for row in rows:
        started = time.perf_counter()
        try:
            out.append(load_digit_image(folder / row["file"]))
        except ImageError as error:
            print(f"  ImageError: {error}")
            out.append(np.zeros((28, 28), np.uint8))
        seconds.append(time.perf_counter() - started)
    return np.stack(out), seconds


def contact_sheet(images: np.ndarray, rows: list[dict[str, str]], guesses: np.ndarray, path: Path) -> None:
    """The 28x28 inputs, enlarged 4x, ten to a row, each with its label and guess (red: a miss)."""
    cell = 4 * 28 + 4
    sheet = Image.new("RGB", (10 * cell, -(-len(images) // 10) * (cell + 12)), "grey")
    draw = ImageDraw.Draw(sheet)
    for i, (image, row, guess) in enumerate(zip(images, rows, guesses)):
        x, y = (i % 10) * cell, (i // 10) * (cell + 12)
        sheet.paste(Image.fromarray(image).resize((112, 112), Image.Resampling.NEAREST), (x, y))
        colour = "lime" if str(guess) == row["label"] else "red"
        draw.text((x + 2, y + 113), f"{i}: {row['label']}->{guess}", fill=colour)
    sheet.save(path)


def main() -> None:
    tune_malloc()  # as `purenet` does: steps reuse freed pages (purenet.apps.allocator; PURENET_TUNE_MALLOC=0 opts out)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=Path, default=Path(os.environ.get("PURENET_PHOTOS", "photos")),
                        help="folder of photos with a manifest.csv (default: $PURENET_PHOTOS, else ./photos)")
    parser.add_argument("--mnist", type=Path, default=ROOT / "data" / "mnist")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--models", nargs="+", default=DEFAULT_MODELS, choices=list(MODELS))
    parser.add_argument("--checkpoint", type=Path, nargs="*", default=[],
                        help="also read the photos with these checkpoints (e.g. from `purenet train --out`)")
    parser.add_argument("--sheet", type=Path, help="save a contact sheet of the preprocessed photos here")
    args = parser.parse_args()

    rows = read_manifest(args.photos)
    images, seconds = digits(args.photos, rows)
    slowest = int(np.argmax(seconds))
    print(f"load_digit_image: {1000 * np.mean(seconds):.0f} ms mean, {1000 * seconds[slowest]:.0f} ms max "
          f"({rows[slowest]['file']}, {rows[slowest]['width']}x{rows[slowest]['height']})")
    labels = np.array([int(row["label"]) for row in rows])
    x = images.reshape(len(images), 784).astype(np.float32) / 255
    models = [(name, lambda name=name: model(name, args.mnist, args.cache)) for name in args.models]
    models += [(path.stem, lambda path=path: load_checkpoint(path).model) for path in args.checkpoint]
    for name, params in models:
        guesses = report(name, predict(params(), x), labels, rows)
        if args.sheet:
            contact_sheet(images, rows, guesses, args.sheet.with_stem(f"{args.sheet.stem}-{name}"))


def report(name: str, probs: np.ndarray, labels: np.ndarray, rows: list[dict[str, str]]) -> np.ndarray:
    """Print how many photos the model read right and every miss; return its guesses."""
    guesses = probs.argmax(axis=1)
    print(f"{name}: {int((guesses == labels).sum())} of {len(rows)} photos read right")
    for i in np.flatnonzero(guesses != labels):
        print(f"  miss #{i} {rows[i]['file']} ({rows[i]['kind']}): true {labels[i]}, "
              f"predicted {guesses[i]} (p={probs[i, guesses[i]]:.2f}, p_true={probs[i, labels[i]]:.2f})")
    return guesses


if __name__ == "__main__":
    main()
