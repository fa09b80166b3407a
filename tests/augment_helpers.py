"""Ways into purenet.data.augment that only its tests need: given transforms, given
displacement fields and resampling at given coordinates, each built from the module's
own parts, so that the tests reach those parts one at a time.

    affine(images, shift, rotation, scale, shear, shape=)   -> images   # given per-image parameters
    elastic_displacement(n, rng, alpha=, sigma=, exact=)     -> (2, n, H*W) float32 displacement fields
    pixel_grid(shape)                                        -> (2, H*W) float32: the identity warp's coordinates
    warp(images, coords, shape=)                             -> images   # bilinear resampling at (2, N, H*W) coords
"""

from __future__ import annotations

import numpy as np

from purenet.base.mnist import SHAPE
from purenet.data.augment import Augmenter, axis_basis
from purenet.data.resample import PAD, check_images, new_scratch, resample

Shape = tuple[int, int]


def affine(images: np.ndarray, shift=0.0, rotation=0.0, scale=1.0, shear=0.0, *, shape: Shape = SHAPE) -> np.ndarray:
    """Apply given affine transforms (each per image or one for all) to (N, H*W) uint8 ``images``."""
    return Augmenter(shape=shape).apply(images, (shift, rotation, scale, shear))


def elastic_displacement(n: int, rng: np.random.Generator, *, alpha: float = 34.0, sigma: float = 4.0,
                         shape: Shape = SHAPE, exact: bool = False) -> np.ndarray:
    """``n`` smooth random displacement fields, (2, n, H*W) float32 (row, column) pixels: the
    field ``Augmenter(elastic_alpha=alpha, ...)`` applies, drawn as it draws it from the same
    generator (alpha * B_rows Z B_cols.T, B the ``field_modes``; with ``exact``, B = G)."""
    augmenter = Augmenter(0.0, 0.0, 0.0, 0.0, alpha, sigma, shape=shape, exact_elastic=exact)
    weights = augmenter.draw_field(n, rng)
    rows, cols = (axis_basis(size, sigma, exact)[:, :-2] for size in augmenter.shape)  # the modes alone
    return (rows @ weights @ cols.T).reshape(2, n, -1)


def pixel_grid(shape: Shape = SHAPE) -> np.ndarray:
    """(2, H*W) float32 (row, column) of every pixel: the coordinates of the identity warp."""
    rows, cols = np.meshgrid(np.arange(shape[0], dtype=np.float32), np.arange(shape[1], dtype=np.float32), indexing="ij")
    return np.stack([rows.ravel(), cols.ravel()])


def warp(images: np.ndarray, coords: np.ndarray, *, shape: Shape = SHAPE) -> np.ndarray:
    """Bilinear resampling, as the augmenter resamples: output pixel j of image i reads
    image i at ``coords[:, i, j]``, (row, column) pixels (the layout of
    ``scipy.ndimage.map_coordinates``); outside the image is the zero background."""
    n = check_images(images, shape)
    if np.shape(coords) != (2, n, shape[0] * shape[1]):
        raise ValueError(f"coords must have shape {(2, n, shape[0] * shape[1])}, got {np.shape(coords)}")
    if not np.isfinite(coords).all():
        raise ValueError("coords must be finite")
    scratch = new_scratch(n, shape)
    np.add(coords, np.float32(PAD), out=scratch[:2], casting="unsafe")  # into the padded batch's frame
    return resample(images, scratch, shape)
