"""Measuring a network on a data split: loss, accuracy, confusion matrix.

    logits(params, images)                  -> (N, K), converting uint8 a chunk at a time
    evaluate(params, split)                 -> (mean loss, accuracy)
    confusion_matrix(labels, predicted, K)  -> (K, K) counts, rows true, columns predicted
    per_class_accuracy(confusion)           -> (K,) recall of each class
    class_scores(confusion)                 -> ClassScores: precision, recall, F1, support; macro and weighted averages

Splits hold uint8 images; converting all 60,000 to float32 at once would cost
188 MB, so the conversion and the forward pass happen a chunk of rows at a time:
EVAL_CHUNK rows, or fewer when one chunk's activations would pass EVAL_BUDGET bytes
(a convolution keeps far more numbers per image than a dense layer).
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np

from purenet.core.layers import elements_per_sample
from purenet.core.losses import get_loss
from purenet.core.network import forward
from purenet.core.records import Params
from purenet.data import Split, to_float

EVAL_CHUNK = 10_000
"""Rows converted to float at a time when evaluating, which bounds memory."""

EVAL_BUDGET = 64 * 2**20
"""Bytes of activations (and convolution scratch) one evaluation chunk may take."""


def chunk_rows(params: Params) -> int:
    """Rows per evaluation chunk: EVAL_CHUNK, or fewer to keep within EVAL_BUDGET."""
    per_row = elements_per_sample(params.arch.layers) * params.dtype.itemsize
    return max(1, min(EVAL_CHUNK, EVAL_BUDGET // per_row))


def logits(params: Params, images: np.ndarray) -> np.ndarray:
    """The network's logits (N, K) for uint8 images (N, pixels)."""
    rows = chunk_rows(params)
    parts = [forward(params, to_float(images[i : i + rows], params.dtype), training=False).logits
             for i in range(0, len(images), rows)]
    return np.concatenate(parts) if parts else np.zeros((0, params.arch.classes), params.dtype)


def evaluate(params: Params, split: Split) -> tuple[float, float]:
    """Mean loss and accuracy of ``params`` on ``split``."""
    z = logits(params, split.images)
    loss = get_loss(params.arch.loss).value(z, split.labels)
    return loss, float(np.mean(z.argmax(axis=1) == split.labels))


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, classes: int) -> np.ndarray:
    """Counts (classes, classes): entry [t, p] is how many of class t were predicted as p."""
    return np.bincount(np.asarray(labels, np.int64) * classes + predicted, minlength=classes * classes).reshape(classes, classes)


def per_class_accuracy(confusion: np.ndarray) -> np.ndarray:
    """The fraction of each true class predicted right (NaN for a class with no samples)."""
    totals = confusion.sum(axis=1)
    return np.where(totals > 0, np.diag(confusion) / np.maximum(totals, 1), np.nan)


@attrs.frozen
class ClassScores:
    """Precision, recall and F1 of each class, with support, and their averages.

    The numbers of scikit-learn's ``classification_report`` with ``zero_division=0``:
    a ratio with nothing to divide by (precision of a class never predicted, recall of
    a class with no samples) counts as 0. ``macro`` is the plain mean over the classes
    that occur (in the labels or the predictions; a class absent from both has no
    score to average, as scikit-learn leaves out labels it never sees), ``weighted``
    the mean weighted by support; each is (precision, recall, F1).
    """

    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    support: np.ndarray
    macro: tuple[float, float, float]
    weighted: tuple[float, float, float]

    def to_json(self) -> dict[str, Any]:
        """Plain JSON types: lists per class, and the two averages as objects."""

        def average(triple: tuple[float, float, float]) -> dict[str, float]:
            return dict(zip(("precision", "recall", "f1"), (float(v) for v in triple)))

        return {"precision": self.precision.tolist(), "recall": self.recall.tolist(), "f1": self.f1.tolist(),
                "support": self.support.tolist(), "macro_avg": average(self.macro), "weighted_avg": average(self.weighted)}


def class_scores(confusion: np.ndarray) -> ClassScores:
    """Precision, recall and F1 per class from a confusion matrix (rows true, columns predicted).

    precision_k = C[k, k] / (column k's sum), recall_k = C[k, k] / (row k's sum),
    F1_k = 2 P R / (P + R); any of them 0 where its denominator is 0.
    """
    confusion = np.asarray(confusion, dtype=np.int64)
    hits = np.diag(confusion).astype(np.float64)
    support = confusion.sum(axis=1)
    predicted = confusion.sum(axis=0)
    precision = _ratio(hits, predicted)
    recall = _ratio(hits, support)
    f1 = _ratio(2 * precision * recall, precision + recall)
    table = np.stack([precision, recall, f1])
    weights = support / support.sum() if support.sum() else np.zeros(len(support))
    occurring = (support + predicted) > 0
    p, r, f = table[:, occurring].mean(axis=1) if occurring.any() else np.zeros(3)
    macro = (float(p), float(r), float(f))
    p, r, f = table @ weights
    weighted = (float(p), float(r), float(f))
    return ClassScores(precision=precision, recall=recall, f1=f1, support=support, macro=macro, weighted=weighted)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, 0 where the denominator is 0."""
    denominator = np.asarray(denominator, dtype=np.float64)
    return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1.0), 0.0)
