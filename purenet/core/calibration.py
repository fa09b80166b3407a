"""Confidence that means what it says: a temperature, a score of the input, and a threshold.

    fit_temperature(z, y)                 -> T minimising the NLL of softmax(z / T) on held-out logits
    expected_calibration_error(p, y)      -> ECE over 15 equal-width confidence bins
    reliability(p, y)                     -> Reliability: per bin, mean confidence, accuracy, count
    input_scores(z, score, T)             -> how much each input looks like the training data (higher: more)
    keep_threshold(scores, keep)          -> the score above which a share ``keep`` of the given inputs lies
    fit_calibration(z, y, score, keep)    -> Calibration: temperature, score name, threshold
    auroc(inside, outside)                -> the chance a random inside input outscores a random outside one

Temperature scaling (Guo et al., "On Calibration of Modern Neural Networks", ICML 2017)
divides the logits by one number T > 0 fitted on held-out data: the predicted class is
unchanged, only the confidence moves. The NLL of softmax(z / T) is convex in 1 / T (a
log-sum-exp of linear functions minus a linear one), so a golden-section search over
log T finds its minimum; no gradient is needed.

The scores, higher meaning "more like the training data": ``msp`` the largest softmax
probability at temperature T (Hendrycks and Gimpel, ICLR 2017), ``maxlogit`` the largest
logit (Hendrycks et al., "Scaling Out-of-Distribution Detection", ICML 2022), ``energy``
T * logsumexp(z / T), the negative free energy (Liu et al., "Energy-based
Out-of-distribution Detection", NeurIPS 2020). Only logits are needed, so an input is
refused or kept from the one pass that answers it.
"""

from __future__ import annotations

import math

import attrs
import numpy as np

from purenet.core.losses import log_softmax

SCORES = ("energy", "maxlogit", "msp")
"""The scores of an input ``input_scores`` knows (docs/results.md measures which separates best)."""
DEFAULT_SCORE = "energy"
DEFAULT_KEEP = 0.99
"""The share of held-out real inputs the threshold keeps by default."""
BINS = 15
"""Equal-width confidence bins of the expected calibration error (Guo et al. use 15)."""
T_RANGE = (0.05, 20.0)
"""The temperatures searched: far beyond what a trained network needs either way."""


@attrs.frozen
class Calibration:
    """What a checkpoint keeps to make its confidence honest and to refuse strange inputs.

    ``temperature``: divide the logits by it before the softmax; ``score``: one of
    ``SCORES``; ``threshold``: inputs scoring below it are refused (None: never refused);
    ``keep``: the share of the held-out inputs the threshold kept; ``samples``: how many
    held-out inputs it was fitted on.
    """

    temperature: float = attrs.field(converter=float)
    score: str = DEFAULT_SCORE
    threshold: float | None = attrs.field(default=None, converter=attrs.converters.optional(float))
    keep: float = attrs.field(default=DEFAULT_KEEP, converter=float)
    samples: int = attrs.field(default=0, converter=int)

    def __attrs_post_init__(self) -> None:
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            raise ValueError(f"temperature must be a finite number above 0, got {self.temperature}")
        if self.score not in SCORES:
            raise ValueError(f"score must be one of {', '.join(SCORES)}, got {self.score!r}")
        if self.threshold is not None and not math.isfinite(self.threshold):
            raise ValueError(f"threshold must be a finite number or None, got {self.threshold}")
        if not 0 < self.keep <= 1:
            raise ValueError(f"keep must lie in (0, 1], got {self.keep}")
        if self.samples < 0:
            raise ValueError(f"samples must be >= 0, got {self.samples}")

    def to_json(self) -> dict:
        return attrs.asdict(self)

    def scores(self, z: np.ndarray) -> np.ndarray:
        """The score of each row of logits ``z`` (N, K), at this temperature."""
        return input_scores(z, self.score, self.temperature)

    def accepts(self, z: np.ndarray) -> np.ndarray:
        """(N,) bool: which rows of logits score at or above the threshold (all, without one)."""
        scores = self.scores(z)
        return np.ones(len(scores), bool) if self.threshold is None else scores >= self.threshold

    def probabilities(self, z: np.ndarray) -> np.ndarray:
        """softmax(z / T), each row summing to 1."""
        return np.exp(log_softmax(np.asarray(z, np.float64) / self.temperature))


def nll(z: np.ndarray, y: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of labels ``y`` under softmax(z / temperature)."""
    logp = log_softmax(np.asarray(z, np.float64) / temperature)
    return float(-logp[np.arange(len(y)), y].mean())


def fit_temperature(z: np.ndarray, y: np.ndarray, iterations: int = 60) -> float:
    """The temperature in ``T_RANGE`` minimising ``nll(z, y, T)``: a golden-section search on log T
    (the NLL is convex in 1 / T, so unimodal in log T); 60 steps narrow the range to 1e-12 of its width."""
    z, y = np.asarray(z, np.float64), np.asarray(y)
    if len(z) == 0:
        raise ValueError("fitting a temperature needs held-out logits, got none")
    low, high = (math.log(t) for t in T_RANGE)
    ratio = (math.sqrt(5) - 1) / 2
    a, b = high - ratio * (high - low), low + ratio * (high - low)
    fa, fb = nll(z, y, math.exp(a)), nll(z, y, math.exp(b))
    for _ in range(iterations):
        if fa <= fb:
            high, b, fb = b, a, fa
            a = high - ratio * (high - low)
            fa = nll(z, y, math.exp(a))
        else:
            low, a, fa = a, b, fb
            b = low + ratio * (high - low)
            fb = nll(z, y, math.exp(b))
    return math.exp((low + high) / 2)


@attrs.frozen
class Reliability:
    """A reliability diagram's numbers: per equal-width bin of confidence (``edges``, BINS + 1),
    the mean confidence, the accuracy and the count of predictions in it (NaN where empty)."""

    edges: np.ndarray = attrs.field(eq=False)
    confidence: np.ndarray = attrs.field(eq=False)
    accuracy: np.ndarray = attrs.field(eq=False)
    counts: np.ndarray = attrs.field(eq=False)

    @property
    def ece(self) -> float:
        """Expected calibration error: the count-weighted mean gap between accuracy and confidence."""
        filled = self.counts > 0
        total = self.counts.sum()
        if not total:
            return 0.0
        gaps = np.abs(self.accuracy[filled] - self.confidence[filled])
        return float((gaps * self.counts[filled]).sum() / total)


def reliability(probabilities: np.ndarray, y: np.ndarray, bins: int = BINS) -> Reliability:
    """Bin each prediction by its confidence (the largest probability; bins (a, b], the first
    [0, b]) and compare, per bin, the mean confidence with the share predicted right."""
    probabilities = np.asarray(probabilities, np.float64)
    confidence = probabilities.max(axis=1)
    right = probabilities.argmax(axis=1) == np.asarray(y)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    counts = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(which, confidence, minlength=bins) / counts
        accuracy = np.bincount(which, right.astype(np.float64), minlength=bins) / counts
    return Reliability(edges=edges, confidence=mean_confidence, accuracy=accuracy, counts=counts)


def expected_calibration_error(probabilities: np.ndarray, y: np.ndarray, bins: int = BINS) -> float:
    """ECE (Naeini et al., AAAI 2015; Guo et al. 2017): ``reliability(...).ece``."""
    return reliability(probabilities, y, bins).ece


def _logsumexp(z: np.ndarray) -> np.ndarray:
    top = z.max(axis=1)
    return top + np.log(np.exp(z - top[:, None]).sum(axis=1))


def input_scores(z: np.ndarray, score: str = DEFAULT_SCORE, temperature: float = 1.0) -> np.ndarray:
    """(N,) float64: how much each row of logits looks like the training data, higher meaning more."""
    z = np.asarray(z, np.float64)
    if score == "maxlogit":
        return z.max(axis=1)
    if score == "energy":
        return temperature * _logsumexp(z / temperature)
    if score == "msp":
        return np.exp(log_softmax(z / temperature).max(axis=1))
    raise ValueError(f"score must be one of {', '.join(SCORES)}, got {score!r}")


def keep_threshold(scores: np.ndarray, keep: float = DEFAULT_KEEP) -> float:
    """The largest threshold that keeps (score >= threshold) at least a share ``keep`` of ``scores``."""
    if not 0 < keep <= 1:
        raise ValueError(f"keep must lie in (0, 1], got {keep}")
    ordered = np.sort(np.asarray(scores, np.float64))
    if len(ordered) == 0:
        raise ValueError("choosing a threshold needs held-out scores, got none")
    refused = math.floor((1 - keep) * len(ordered) + 1e-9)  # at most this many below the threshold
    return float(ordered[min(refused, len(ordered) - 1)])


def fit_calibration(z: np.ndarray, y: np.ndarray, score: str = DEFAULT_SCORE, keep: float = DEFAULT_KEEP) -> Calibration:
    """The temperature fitted on held-out logits ``z`` with labels ``y``, and the threshold of ``score``
    (at that temperature) that keeps a share ``keep`` of them."""
    temperature = fit_temperature(z, y)
    threshold = keep_threshold(input_scores(z, score, temperature), keep)
    return Calibration(temperature=temperature, score=score, threshold=threshold, keep=keep, samples=len(z))


def auroc(inside: np.ndarray, outside: np.ndarray) -> float:
    """Area under the ROC curve of telling ``inside`` scores (higher) from ``outside`` ones: the
    chance a random inside one outscores a random outside one, ties counting half (Mann-Whitney U)."""
    inside, outside = np.asarray(inside, np.float64), np.asarray(outside, np.float64)
    if not len(inside) or not len(outside):
        raise ValueError("AUROC needs scores on both sides")
    both = np.concatenate([inside, outside])
    order = np.argsort(both, kind="stable")
    ranks = np.empty(len(both))
    ranks[order] = np.arange(1, len(both) + 1)
    values = both[order]
    starts = np.flatnonzero(np.r_[True, values[1:] != values[:-1]])
    ends = np.r_[starts[1:], len(values)]
    average = (starts + ends + 1) / 2  # mean rank of each run of ties
    ranks[order] = np.repeat(average, ends - starts)
    u = ranks[: len(inside)].sum() - len(inside) * (len(inside) + 1) / 2
    return float(u / (len(inside) * len(outside)))
