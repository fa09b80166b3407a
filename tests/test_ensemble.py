"""purenet.core.ensemble: the members' probabilities averaged, members of any layers, refused when they do not fit."""

import numpy as np
import pytest

from purenet.core.ensemble import check_members, ensemble_predict, ensemble_probabilities, evaluate_ensemble
from purenet.core.metrics import evaluate
from purenet.core.network import init, predict
from purenet.data import Split, to_float


def _members():
    dense = init([784, 16, 10], act="relu", rng=np.random.default_rng(0))
    cnn = init([784, "conv2k3", "pool2", 10], act="relu", rng=np.random.default_rng(1))
    mse = init([784, 8, 10], act="sigmoid", loss="mse", rng=np.random.default_rng(2), dtype=np.float64)
    return dense, cnn, mse


def _split(n=40, seed=3):
    rng = np.random.default_rng(seed)
    return Split(images=rng.integers(0, 256, (n, 784), dtype=np.uint8), labels=rng.integers(0, 10, n))


def test_the_ensemble_is_the_mean_of_the_members_probabilities():
    members = _members()
    x = to_float(_split().images, np.float32)
    p = ensemble_predict(members, x)
    expected = sum(predict(m, x).astype(np.float64) for m in members) / 3
    assert p.shape == (40, 10) and p.dtype == np.float64
    np.testing.assert_allclose(p, expected, rtol=1e-12)
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-6)


def test_one_member_is_that_network():
    dense = _members()[0]
    x = to_float(_split().images, np.float32)
    assert np.array_equal(ensemble_predict([dense], x), predict(dense, x).astype(np.float64))


def test_same_members_same_bits_and_order_only_rounds():
    members = _members()
    x = to_float(_split().images, np.float32)
    assert np.array_equal(ensemble_predict(members, x), ensemble_predict(list(members), x))
    np.testing.assert_allclose(ensemble_predict(members[::-1], x), ensemble_predict(members, x), rtol=1e-12)


def test_uint8_images_give_what_the_float_batch_gives():
    members = _members()
    split = _split()
    np.testing.assert_allclose(ensemble_probabilities(members, split.images),
                               ensemble_predict(members, to_float(split.images, np.float32)), rtol=1e-6)


def test_evaluation_gives_each_member_and_the_ensemble():
    members = _members()
    split = _split()
    result = evaluate_ensemble(members, split)
    for m, loss, acc in zip(members, result.member_loss, result.member_accuracy):
        expected_loss, expected_acc = evaluate(m, split)
        assert acc == expected_acc
        assert loss == pytest.approx(expected_loss, rel=1e-6)
    p = ensemble_probabilities(members, split.images)
    assert np.array_equal(result.predicted, p.argmax(axis=1))
    assert result.accuracy == np.mean(p.argmax(axis=1) == split.labels)
    assert result.loss == pytest.approx(-np.mean(np.log(p[np.arange(40), split.labels])))
    np.testing.assert_allclose(result.confidence, p.max(axis=1))


def test_members_that_do_not_fit_are_refused_in_one_line():
    dense, cnn, _ = _members()
    other_classes = init([784, 8, 26], rng=0)
    other_pixels = init([100, 8, 10], rng=0)
    for members, words in [([], "at least one"), (dense, "not one network"), ([dense, "x"], "member 2"),
                           ([dense, cnn, other_classes], "member 3 of the ensemble has 26 classes but member 1 has 10"),
                           ([dense, other_pixels], "member 2 of the ensemble reads 100 pixels but member 1 reads 784")]:
        with pytest.raises(ValueError, match=words) as caught:
            check_members(members)
        assert "\n" not in str(caught.value)
    with pytest.raises(ValueError, match="^b.npz has 26 classes but a.npz has 10: the members of an ensemble must share"):
        check_members([dense, other_classes], names=["a.npz", "b.npz"])


def test_a_photo_read_by_an_ensemble_is_the_mean_of_its_members_readings(mnist):
    from purenet.photo.recognise import predict_image

    dense, cnn, mse = _members()
    digit = mnist.test.images[0]
    alone = [predict_image(m, digit, prepared=True).probabilities for m in (dense, cnn, mse)]
    together = predict_image([dense, cnn, mse], digit, prepared=True)
    np.testing.assert_allclose(together.probabilities, np.mean(alone, axis=0), rtol=1e-6)
    assert together.digit == int(np.argmax(together.probabilities))
    assert np.array_equal(predict_image([dense], digit, prepared=True).probabilities, alone[0].astype(np.float64))


def test_labels_beyond_the_classes_are_refused():
    split = Split(images=np.zeros((2, 784), np.uint8), labels=np.array([0, 12]))
    with pytest.raises(ValueError, match="labels go up to 12"):
        evaluate_ensemble(_members()[:1], split)
