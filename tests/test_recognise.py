"""``purenet.predict_image``: one call from a photo (or an array) to a digit, the one path
``purenet predict`` takes too; and the checkpoint given where an image was expected."""

from __future__ import annotations

import json

import attrs
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from purenet import DigitPrediction, predict_image
from purenet.cli.app import app
from purenet.core.network import predict
from purenet.data import to_float
from purenet.photo.prepare import ImageError, load_digit_image
from purenet.runs.checkpoint import load

pytestmark = pytest.mark.usefixtures("isolated")


@pytest.fixture(scope="module")
def params(small_model):
    return load(small_model).model


@pytest.fixture
def photo(mnist, tmp_path):
    """An MNIST test digit drawn dark on white at 140x140, as a photo would be."""
    picture = Image.fromarray(255 - mnist.test.images[0].reshape(28, 28)).resize((140, 140), Image.Resampling.BICUBIC)
    picture.save(tmp_path / "seven.png")
    return tmp_path / "seven.png"


def test_a_file_gives_the_digit_its_probabilities_and_the_image_seen(params, photo):
    answer = predict_image(params, photo)
    seen = load_digit_image(photo)
    expected = predict(params, to_float(seen.reshape(1, -1), params.dtype))[0]
    assert isinstance(answer, DigitPrediction)
    assert answer.digit == int(np.argmax(expected)) == 7
    np.testing.assert_array_equal(answer.probabilities, expected)
    np.testing.assert_array_equal(answer.image, seen)
    assert answer.image.shape == (28, 28) and answer.image.dtype == np.uint8
    assert answer.probabilities.sum() == pytest.approx(1.0)


def test_the_record_is_frozen(params, photo):
    answer = predict_image(params, photo)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        answer.digit = 3
    with pytest.raises(ValueError):
        answer.image[0, 0] = 1


@pytest.mark.parametrize("form", ["uint8", "float", "rgb", "int64"])
def test_an_array_is_prepared_like_the_file(params, photo, form):
    pixels = np.asarray(Image.open(photo).convert("L"))
    array = {"uint8": pixels, "float": pixels / 255.0, "rgb": np.stack([pixels] * 3, axis=2),
             "int64": pixels.astype(np.int64)}[form]
    from_file = predict_image(params, photo)
    from_array = predict_image(params, array)
    np.testing.assert_array_equal(from_array.image, from_file.image)
    assert from_array.digit == from_file.digit


def test_a_prepared_digit_is_used_as_it_is(params, mnist):
    digit = mnist.test.images[0]
    answer = predict_image(params, digit, prepared=True)
    np.testing.assert_array_equal(answer.image.reshape(-1), digit)
    np.testing.assert_array_equal(answer.probabilities, predict(params, to_float(digit.reshape(1, -1), params.dtype))[0])


def test_top_ranks_the_classes(params, photo):
    answer = predict_image(params, photo)
    top = answer.top(3)
    assert [k for k, _ in top] == list(np.argsort(answer.probabilities)[::-1][:3])
    assert top[0] == (answer.digit, float(answer.probabilities[answer.digit]))


def test_a_blank_image_and_bad_arrays_are_refused(params):
    with pytest.raises(ImageError):
        predict_image(params, np.full((100, 100), 255, np.uint8))
    with pytest.raises(ValueError, match="0 to 1"):
        predict_image(params, np.full((50, 50), 3.0))
    with pytest.raises(ValueError, match="28x28"):
        predict_image(params, np.zeros((10, 10), np.uint8), prepared=True)


def test_the_command_answers_what_the_function_does(params, small_model, photo):
    result = CliRunner().invoke(app, ["predict", "--json", "--model", str(small_model), str(photo)])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    answer = predict_image(params, photo)
    assert shown["digit"] == answer.digit
    assert shown["probabilities"] == [float(p) for p in answer.probabilities]


def test_a_checkpoint_where_an_image_is_expected_says_to_use_model(small_model, photo):
    result = CliRunner().invoke(app, ["predict", str(small_model), str(photo)])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"purenet: error: {small_model} is a purenet checkpoint, not an image; give it with --model: "
        f"purenet predict --model {small_model} IMAGE..."]


# --- pictures for a notebook ------------------------------------------------------------------------


def _decoded(png: bytes) -> np.ndarray:
    import io

    with Image.open(io.BytesIO(png)) as picture:
        assert picture.format == "PNG"
        return np.asarray(picture)


def test_show_digits_draws_a_grid_of_the_digits(mnist):
    from purenet import show_digits

    images = mnist.test.images[:12]
    drawn = _decoded(show_digits(images, columns=5, scale=2)._repr_png_())
    assert drawn.shape == (2 * (3 * 28 + 2 * 2), 2 * (5 * 28 + 4 * 2))  # 3 rows of 5, 2-pixel gaps, doubled
    np.testing.assert_array_equal(drawn[:56:2, :56:2], images[0].reshape(28, 28))  # the first, top left
    np.testing.assert_array_equal(drawn[2 * 30 : 2 * 58 : 2, 2 * 30 : 2 * 58 : 2], images[6].reshape(28, 28))  # row 2, column 2


def test_show_digits_takes_one_digit_or_floats(mnist):
    from purenet import show_digits

    digit = mnist.test.images[0]
    np.testing.assert_array_equal(_decoded(show_digits(digit, scale=1).png), digit.reshape(28, 28))
    np.testing.assert_array_equal(_decoded(show_digits(digit.reshape(28, 28) / 255.0, scale=1).png), digit.reshape(28, 28))
    with pytest.raises(ValueError):
        show_digits(np.full(784, 7.5))


def test_a_prediction_shows_as_the_image_the_network_saw(params, photo):
    answer = predict_image(params, photo)
    drawn = _decoded(answer._repr_png_())
    np.testing.assert_array_equal(drawn[::4, ::4], answer.image)
