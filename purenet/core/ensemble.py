"""An ensemble: several trained networks read the same input, and their class probabilities are averaged.

    check_members(members)                   -> the members as a tuple; ValueError (one line) when they do not fit together
    ensemble_predict(members, x)             -> (N, K) the mean of the members' probabilities for a float batch x
    ensemble_probabilities(members, images)  -> the same for uint8 images (N, pixels), converted a chunk at a time
    evaluate_ensemble(members, split)        -> EnsembleEvaluation: each member's loss and accuracy beside the ensemble's

The members may have any layers (a dense network beside a CNN): what they must share is
the input (the same pixel count) and the output (the same number of classes). Each
member's probabilities are its own loss's output (softmax for "ce", the normalised
sigmoids for "mse": ``purenet.core.network.predict``), and the ensemble's are their
plain mean, p(x) = (1/M) sum_m p_m(x), as in deep ensembles (Lakshminarayanan, Pritzel
and Blundell 2017, "Simple and Scalable Predictive Uncertainty Estimation using Deep
Ensembles"): averaging probabilities, not logits, keeps members of different losses and
scales comparable, and the mean of distributions is a distribution. The sum is taken in
float64 in the members' order, so the same members give the same probabilities bit for bit.

The ensemble's loss is the cross-entropy of the averaged probabilities, the mean of
-log p_y(x) over the samples (a probability below ``TINY`` counted as ``TINY``): what
a single network's "ce" loss measures, for the ensemble as one model.
"""

from __future__ import annotations

from typing import Sequence

import attrs
import numpy as np

from purenet.core.losses import get_loss
from purenet.core.metrics import logits
from purenet.core.network import predict
from purenet.core.records import Params
from purenet.data import Split

TINY = 1e-300
"""The least probability the ensemble's cross-entropy takes the log of: a class the
members all rule out costs log(1/TINY), about 690, not infinity."""


def check_members(members: Sequence[Params], names: Sequence[str] | None = None) -> tuple[Params, ...]:
    """The members as a tuple, after checking that they can be averaged: at least one, each a
    ``Params``, all reading the same pixel count and giving the same number of classes.

    Raises ``ValueError`` with a one-line message naming the first member that differs
    from the first one: by its name in ``names`` (a file's, say), else its number from 1."""
    if isinstance(members, Params):
        raise ValueError("an ensemble takes a sequence of networks (params), not one network")
    members = tuple(members)
    if not members:
        raise ValueError("an ensemble needs at least one network")
    for number, member in enumerate(members, start=1):
        if not isinstance(member, Params):
            raise ValueError(f"member {number} of the ensemble is a {type(member).__name__}, not a network (Params)")
    named = list(names) if names is not None and len(names) == len(members) else None
    called = [named[i] if named else f"member {i + 1} of the ensemble" for i in range(len(members))]
    first = members[0].arch
    for number, member in enumerate(members[1:], start=1):
        arch, this, one = member.arch, called[number], "member 1" if named is None else called[0]
        if arch.inputs != first.inputs:
            raise ValueError(f"{this} reads {arch.inputs} pixels but {one} reads {first.inputs}: "
                             "the members of an ensemble must read the same images")
        if arch.classes != first.classes:
            raise ValueError(f"{this} has {arch.classes} classes but {one} has {first.classes}: "
                             "the members of an ensemble must share their classes")
    return members


def ensemble_predict(members: Sequence[Params], x: np.ndarray) -> np.ndarray:
    """The ensemble's class probabilities (N, K), float64, for a float batch ``x`` (N, inputs):
    the mean of ``predict(member, x)`` over the members; each row sums to 1."""
    members = check_members(members)
    return _mean(predict(member, x) for member in members) / len(members)


def ensemble_probabilities(members: Sequence[Params], images: np.ndarray) -> np.ndarray:
    """``ensemble_predict`` for uint8 images (N, pixels), as a data split holds them: each member reads
    them a chunk at a time (``purenet.core.metrics.logits``), so memory stays bounded."""
    members = check_members(members)
    return _mean(get_loss(member.arch.loss).output(logits(member, images)) for member in members) / len(members)


def _mean(parts) -> np.ndarray:
    """The sum of the arrays ``parts`` in float64, in order (the caller divides by the count)."""
    total = None
    for part in parts:
        total = np.array(part, dtype=np.float64) if total is None else total + part
    return total


@attrs.frozen
class EnsembleEvaluation:
    """An ensemble measured on a split: each member's figures beside the ensemble's.

    ``member_loss`` and ``member_accuracy``: one figure per member, in order, each with its
    own loss (as ``purenet.core.metrics.evaluate`` gives them); ``loss``: the cross-entropy
    of the averaged probabilities; ``accuracy``: the fraction of samples whose likeliest
    averaged class is the label; ``predicted``: (N,) that class; ``confidence``: (N,) its
    averaged probability.
    """

    member_loss: tuple[float, ...]
    member_accuracy: tuple[float, ...]
    loss: float
    accuracy: float
    predicted: np.ndarray = attrs.field(eq=False)
    confidence: np.ndarray = attrs.field(eq=False)


def evaluate_ensemble(members: Sequence[Params], split: Split) -> EnsembleEvaluation:
    """Each member and the ensemble on ``split`` (uint8 images, integer labels), each member
    running once over the images."""
    members = check_members(members)
    labels = np.asarray(split.labels)
    if len(labels) and int(labels.max()) >= members[0].arch.classes:
        raise ValueError(f"labels go up to {int(labels.max())} but the ensemble has only {members[0].arch.classes} classes")
    member_loss, member_accuracy, total = [], [], None
    for member in members:
        z = logits(member, split.images)
        member_loss.append(float(get_loss(member.arch.loss).value(z, labels)))
        member_accuracy.append(float(np.mean(z.argmax(axis=1) == labels)) if len(labels) else float("nan"))
        p = get_loss(member.arch.loss).output(z)
        total = np.array(p, dtype=np.float64) if total is None else total + p
    mean = total / len(members)
    predicted = mean.argmax(axis=1)
    rows = np.arange(len(labels))
    loss = float(-np.mean(np.log(np.maximum(mean[rows, labels], TINY)))) if len(labels) else float("nan")
    accuracy = float(np.mean(predicted == labels)) if len(labels) else float("nan")
    return EnsembleEvaluation(member_loss=tuple(member_loss), member_accuracy=tuple(member_accuracy), loss=loss,
                              accuracy=accuracy, predicted=predicted, confidence=mean[rows, predicted])
