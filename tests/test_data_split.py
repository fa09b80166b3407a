"""Validation splits and batches: pure functions of the data and an explicit Generator.

Every row of the test splits carries its own row number in its pixels, so a test
can tell exactly which rows went where.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from purenet.data import Split, batches, split_validation


def numbered(labels: np.ndarray) -> Split:
    """A split whose row i has pixels (i // 256, i % 256) and the given label."""
    rows = np.arange(len(labels))
    return Split(images=np.column_stack([rows // 256, rows % 256]).astype(np.uint8), labels=labels)


def row_ids(split: Split) -> np.ndarray:
    return split.images[:, 0].astype(int) * 256 + split.images[:, 1]


def skewed_labels(n: int, seed: int = 0) -> np.ndarray:
    """Labels 0-9 with very unequal class sizes, in a random order."""
    rng = np.random.default_rng(seed)
    return rng.choice(10, size=n, p=np.arange(1, 11) / 55).astype(np.uint8)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(2, 600), fraction=st.floats(0.01, 0.99), seed=st.integers(0, 2**32 - 1), stratified=st.booleans())
def test_parts_are_disjoint_and_cover_the_split(n, fraction, seed, stratified):
    data = numbered(skewed_labels(n, seed % 7))
    try:
        train, val = split_validation(data, fraction, np.random.default_rng(seed), stratified=stratified)
    except ValueError:  # only when rounding leaves one part empty
        return
    ids_train, ids_val = row_ids(train), row_ids(val)
    assert len(ids_train) > 0 and len(ids_val) > 0
    assert np.intersect1d(ids_train, ids_val).size == 0
    assert np.array_equal(np.sort(np.concatenate([ids_train, ids_val])), np.arange(n))
    # each row keeps its own label, and each part keeps the original order
    np.testing.assert_array_equal(train.labels, data.labels[ids_train])
    np.testing.assert_array_equal(val.labels, data.labels[ids_val])
    assert np.all(np.diff(ids_train) > 0) and np.all(np.diff(ids_val) > 0)


@pytest.mark.parametrize("n, fraction", [(1000, 0.1), (999, 0.25), (50, 0.5)])
def test_shuffled_validation_size(n, fraction):
    _, val = split_validation(numbered(skewed_labels(n)), fraction, np.random.default_rng(1))
    assert len(val) == round(fraction * n)


@pytest.mark.parametrize("fraction", [0.1, 0.2, 1 / 3])
def test_stratified_split_keeps_each_class_proportion(fraction):
    data = numbered(skewed_labels(2000))
    _, val = split_validation(data, fraction, np.random.default_rng(2), stratified=True)
    per_class = np.bincount(data.labels, minlength=10)
    held = np.bincount(val.labels, minlength=10)
    assert np.all(np.abs(held - fraction * per_class) <= 0.5)  # rounded per class


def test_shuffled_split_does_not_promise_proportions_but_stratified_does():
    # a rare class: a shuffled split can miss it, a stratified one never does
    labels = np.zeros(400, dtype=np.uint8)
    labels[:10] = 1
    data = numbered(labels)
    seeds = range(40)
    shuffled = [np.sum(split_validation(data, 0.1, np.random.default_rng(s))[1].labels == 1) for s in seeds]
    stratified = [
        np.sum(split_validation(data, 0.1, np.random.default_rng(s), stratified=True)[1].labels == 1) for s in seeds
    ]
    assert len(set(shuffled)) > 1
    assert set(stratified) == {1}


@pytest.mark.parametrize("stratified", [False, True])
def test_same_seed_same_split_other_seed_other_split(stratified):
    data = numbered(skewed_labels(500))
    first = split_validation(data, 0.2, np.random.default_rng(7), stratified=stratified)
    again = split_validation(data, 0.2, np.random.default_rng(7), stratified=stratified)
    other = split_validation(data, 0.2, np.random.default_rng(8), stratified=stratified)
    assert first == again
    assert not np.array_equal(row_ids(first[1]), row_ids(other[1]))


def test_split_leaves_its_input_untouched(mnist):
    part = mnist.train.take(slice(500))
    before = (part.images.copy(), part.labels.copy())
    split_validation(part, 0.3, np.random.default_rng(0), stratified=True)
    np.testing.assert_array_equal(part.images, before[0])
    np.testing.assert_array_equal(part.labels, before[1])


@pytest.mark.parametrize("fraction", [0, 1, -0.1, 1.5])
def test_fraction_outside_0_to_1_is_refused(fraction):
    with pytest.raises(ValueError, match="fraction"):
        split_validation(numbered(skewed_labels(10)), fraction, np.random.default_rng(0))


def test_fraction_that_empties_a_part_is_refused():
    with pytest.raises(ValueError, match="empty"):
        split_validation(numbered(skewed_labels(10)), 0.99, np.random.default_rng(0))


@given(n=st.integers(0, 300), batch_size=st.integers(1, 64), seed=st.integers(0, 1000))
def test_batches_cover_every_index_once(n, batch_size, seed):
    parts = list(batches(n, batch_size, np.random.default_rng(seed)))
    assert all(len(part) == batch_size for part in parts[:-1])
    assert np.array_equal(np.sort(np.concatenate(parts)) if parts else np.arange(0), np.arange(n))


def test_batches_without_rng_keep_the_order():
    assert np.array_equal(np.concatenate(list(batches(10, 3, None))), np.arange(10))


# ----------------------------------------------------------------- image_shape


def test_image_shape_defaults_to_unknown_and_positional_splits_still_work():
    split = Split(np.zeros((3, 6), np.uint8), np.zeros(3, np.uint8))
    assert split.image_shape is None
    assert Split(np.zeros((3, 6), np.uint8), np.zeros(3, np.uint8), (2, 3)).image_shape == (2, 3)


@pytest.mark.parametrize("shape", [(2, 4), (6, 0), (0, 6), (-2, -3)])
def test_image_shape_must_fit_the_pixel_count(shape):
    with pytest.raises(ValueError, match="image_shape"):
        Split(images=np.zeros((3, 6), np.uint8), labels=np.zeros(3, np.uint8), image_shape=shape)


def test_image_shape_needs_flat_images():
    with pytest.raises(ValueError, match="image_shape"):
        Split(images=np.zeros((3, 2, 3), np.uint8), labels=np.zeros(3, np.uint8), image_shape=(2, 3))


def test_take_and_split_validation_keep_the_image_shape():
    rows = np.arange(40)
    split = Split(images=np.repeat(rows[:, None], 6, axis=1).astype(np.uint8), labels=rows % 10, image_shape=[2, 3])
    assert split.image_shape == (2, 3)
    assert split.take(slice(5)).image_shape == (2, 3)
    for stratified in (False, True):
        train, val = split_validation(split, 0.25, np.random.default_rng(0), stratified=stratified)
        assert train.image_shape == val.image_shape == (2, 3)


def test_splits_differing_only_in_image_shape_differ():
    images, labels = np.zeros((2, 4), np.uint8), np.zeros(2, np.uint8)
    assert Split(images, labels, (2, 2)) == Split(images, labels, (2, 2))
    assert Split(images, labels, (2, 2)) != Split(images, labels, (1, 4))
    assert Split(images, labels, (2, 2)) != Split(images, labels)
