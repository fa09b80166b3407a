"""Which score of an input tells digits from non-digits, and what an abstention threshold keeps and refuses.

    python benchmarks/outliers.py --model model.npz [--photos FOLDER] [--fashion FOLDER] [--count 400] [--seed 0] [--json]

The model must have been trained with a validation split (``purenet train --val-fraction 0.1``):
for each score (energy, maxlogit, msp) the temperature and the threshold keeping 99% of that
split are fitted on it (``purenet.core.calibration.fit_calibration``), then measured on

- MNIST's 10,000 test digits (the share kept);
- a set of non-digits made here from ``--seed``, ``--count`` of each kind, drawn on a 64x64
  canvas and prepared as ``purenet predict`` prepares a photo (``purenet.photo.prepare.preprocess``):
  letters (A-Z and a-z not shaped like a digit, in Pillow's built-in font at random sizes and
  slants), doodles (2-5 random strokes), shapes (circles, rectangles, triangles, stars, outlined or
  filled), noise (uniform, blotchy and sparse); with ``--fashion``, as many Fashion-MNIST test
  images (a folder of its IDX files, e.g. Debian's ``dataset-fashion-mnist``), used as they are;
- with ``--photos``, a folder of photos of handwritten digits with a ``manifest.csv`` (the share kept).

A non-digit that the preparation itself refuses ("no digit found": a blank or near-blank
canvas) counts as refused, and is counted apart. AUROC is of MNIST test digits against the
non-digits the preparation let through (the chance a random digit outscores a random non-digit).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from purenet.core.calibration import SCORES, auroc, fit_calibration
from purenet.core.metrics import logits
from purenet.data import load
from purenet.photo.prepare import ImageError, load_digit_image, preprocess
from purenet.runs.calibrate import validation_split
from purenet.runs.checkpoint import load as load_checkpoint

CANVAS = 64
LETTERS = "ACEFHKMNPRTUVWXYacdefhkmnprtuvwxy"  # none read as a digit by eye (no O, I, l, S, Z, B, G, q, g)


def _canvas() -> tuple[Image.Image, ImageDraw.ImageDraw]:
    image = Image.new("L", (CANVAS, CANVAS), 255)
    return image, ImageDraw.Draw(image)


def letter(rng: np.random.Generator) -> Image.Image:
    image, draw = _canvas()
    font = ImageFont.load_default(size=int(rng.integers(28, 48)))
    draw.text((CANVAS / 2, CANVAS / 2), str(rng.choice(list(LETTERS))), fill=0, font=font, anchor="mm")
    return image.rotate(float(rng.uniform(-15, 15)), fillcolor=255)


def doodle(rng: np.random.Generator) -> Image.Image:
    image, draw = _canvas()
    for _ in range(int(rng.integers(2, 6))):
        points = [tuple(p) for p in rng.uniform(6, CANVAS - 6, (int(rng.integers(2, 5)), 2))]
        draw.line(points, fill=0, width=int(rng.integers(3, 7)), joint="curve")
    return image


def shape(rng: np.random.Generator) -> Image.Image:
    image, draw = _canvas()
    kind, width = int(rng.integers(4)), int(rng.integers(3, 7))
    fill = 0 if rng.random() < 0.5 else None
    a, b = sorted(rng.uniform(6, CANVAS - 6, 2)), sorted(rng.uniform(6, CANVAS - 6, 2))
    if b[1] - b[0] < 12 or a[1] - a[0] < 12:
        a, b = [10, 54], [12, 52]
    box = (a[0], b[0], a[1], b[1])
    if kind == 0:
        draw.ellipse(box, outline=0, fill=fill, width=width)
    elif kind == 1:
        draw.rectangle(box, outline=0, fill=fill, width=width)
    elif kind == 2:
        draw.polygon([(a[0], b[1]), (a[1], b[1]), ((a[0] + a[1]) / 2, b[0])], outline=0, fill=fill, width=width)
    else:
        angles = np.linspace(0, 4 * np.pi, 6)[:5] + rng.uniform(0, np.pi)
        draw.polygon([(32 + 24 * np.cos(t), 32 + 24 * np.sin(t)) for t in angles], outline=0, fill=fill, width=width)
    return image


def noise(rng: np.random.Generator) -> Image.Image:
    kind = int(rng.integers(3))
    if kind == 0:
        pixels = rng.integers(0, 256, (CANVAS, CANVAS))
    elif kind == 1:  # blotches: coarse noise scaled up
        pixels = np.kron(rng.integers(0, 256, (8, 8)), np.ones((8, 8)))
    else:  # sparse specks of ink
        pixels = np.where(rng.random((CANVAS, CANVAS)) < 0.05, 0, 255)
    return Image.fromarray(pixels.astype(np.uint8))


KINDS = {"letters": letter, "doodles": doodle, "shapes": shape, "noise": noise}


def non_digits(count: int, seed: int) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """Per kind, the prepared (n, 784) uint8 images, and how many the preparation refused."""
    made, refused = {}, {}
    for k, (kind, draw) in enumerate(KINDS.items()):
        rng = np.random.default_rng([seed, k])
        images = []
        for _ in range(count):
            try:
                images.append(preprocess(draw(rng)).reshape(-1))
            except ImageError:
                images.append(None)
        refused[kind] = sum(image is None for image in images)
        made[kind] = np.array([image for image in images if image is not None], np.uint8).reshape(-1, 784)
    return made, refused


def photos(folder: Path) -> np.ndarray:
    """The prepared photos listed in the folder's manifest.csv (those the preparation refuses are left out)."""
    prepared = []
    with open(folder / "manifest.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            try:
                prepared.append(load_digit_image(folder / row["file"]).reshape(-1))
            except ImageError:
                pass
    return np.array(prepared, np.uint8).reshape(-1, 784)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--photos", type=Path)
    parser.add_argument("--fashion", type=Path)
    parser.add_argument("--count", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=float, default=0.99)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    checkpoint = load_checkpoint(args.model)
    params = checkpoint.model
    val = validation_split(checkpoint)
    if val is None:
        sys.exit(f"{args.model}: trained without --val-fraction; the thresholds need its validation split")
    data = checkpoint.config.data
    test = load(data).test
    made, refused = non_digits(args.count, args.seed)
    if args.fashion is not None:
        made["fashion"] = load(args.fashion).test.images[: args.count]
        refused["fashion"] = 0
    z_val, z_test = logits(params, val.images), logits(params, test.images)
    z_out = {kind: logits(params, images) for kind, images in made.items()}
    z_photos = logits(params, photos(args.photos)) if args.photos is not None else None
    result = {"model": str(args.model), "layers": list(params.arch.layers), "validation": len(val), "keep": args.keep,
              "non_digits": {kind: len(made[kind]) + refused[kind] for kind in made},
              "refused_by_preparation": refused, "scores": {}}
    total = sum(result["non_digits"].values())
    for score in SCORES:
        fitted = fit_calibration(z_val, val.labels, score, args.keep)
        outside = np.concatenate([fitted.scores(z) for z in z_out.values()])
        per_kind = {kind: (refused[kind] + int((~fitted.accepts(z)).sum())) / (len(z) + refused[kind])
                    for kind, z in z_out.items()}
        entry = {"temperature": fitted.temperature, "threshold": fitted.threshold,
                 "auroc": auroc(fitted.scores(z_test), outside),
                 "test_kept": float(fitted.accepts(z_test).mean()),
                 "non_digits_refused": (sum(refused.values()) + int((outside < fitted.threshold).sum())) / total,
                 "refused_per_kind": per_kind}
        if z_photos is not None:
            entry["photos_kept"] = float(fitted.accepts(z_photos).mean())
            entry["photos"] = len(z_photos)
        result["scores"][score] = entry
    if args.json:
        print(json.dumps(result))
        return
    print(f"{args.model} ({','.join(map(str, params.arch.layers))}): thresholds keep {100 * args.keep:g}% of "
          f"{len(val)} validation digits; non-digits {result['non_digits']} (refused by the preparation: {refused})")
    kinds = list(made)
    print("score     T      AUROC   test kept  non-digits refused  " + "  ".join(f"{k:>8}" for k in kinds)
          + ("  photos kept" if z_photos is not None else ""))
    for score, entry in result["scores"].items():
        line = (f"{score:8} {entry['temperature']:5.2f}  {entry['auroc']:.4f}  {100 * entry['test_kept']:8.2f}%  "
                f"{100 * entry['non_digits_refused']:17.1f}%  "
                + "  ".join(f"{100 * entry['refused_per_kind'][k]:7.1f}%" for k in kinds))
        if z_photos is not None:
            line += f"  {100 * entry['photos_kept']:6.1f}% of {entry['photos']}"
        print(line)


if __name__ == "__main__":
    main()
