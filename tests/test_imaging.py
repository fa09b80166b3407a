"""Tests for purenet.photo.ops: the generic image operations, each against a plain definition."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from purenet.photo.ops import (
    block_max,
    box_blur,
    box_size,
    centre_of_mass,
    closing,
    common_mode,
    component_stats,
    dilate,
    fit_plane,
    label,
    luminance,
    max_filter,
    near_horizontal_lines,
    open_mask,
    otsu,
    paint_over_band,
    plane,
    robust_sigma,
    stretch,
    stroke_width,
    upper_plane,
)


def neighbourhood(a: np.ndarray, radius: int) -> np.ndarray:
    """(H, W, (2r+1)^2): every pixel's square neighbourhood, the image's edge repeated."""
    padded = np.pad(a, radius, mode="edge")
    h, w = a.shape
    k = 2 * radius + 1
    return np.stack([padded[dy : dy + h, dx : dx + w] for dy in range(k) for dx in range(k)], axis=-1)


def flood_fill_count(mask: np.ndarray) -> int:
    """The number of 8-connected components of ``mask``, found one flood fill at a time."""
    seen, count = np.zeros_like(mask), 0
    for start in zip(*np.nonzero(mask)):
        if seen[start]:
            continue
        count += 1
        stack = [start]
        while stack:
            r, c = stack.pop()
            if 0 <= r < mask.shape[0] and 0 <= c < mask.shape[1] and mask[r, c] and not seen[r, c]:
                seen[r, c] = True
                stack += [(r + dy, c + dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    return count


@pytest.fixture
def noise() -> np.ndarray:
    return np.random.default_rng(0).random((23, 31)).astype(np.float32) * 255


# --- pixels and modes --------------------------------------------------------------------------


@pytest.mark.parametrize(("mode", "expected"), [("L", "RGB"), ("P", "RGB"), ("CMYK", "RGB"), ("LA", "RGBA"),
                                                ("RGBA", "RGBA"), ("I;16", "F"), ("I", "F"), ("F", "F")])
def test_common_mode(mode, expected):
    assert common_mode(Image.new(mode, (4, 3))).mode == expected


def test_a_palette_image_with_a_transparent_colour_gets_alpha():
    image = Image.new("P", (4, 3))
    image.info["transparency"] = 0
    assert common_mode(image).mode == "RGBA"


def test_stretch_and_luminance():
    assert stretch(np.array([10.0, 20.0, 30.0])).tolist() == [0.0, 127.5, 255.0]
    assert not stretch(np.full(3, 7.0)).any()
    grey = np.asarray(Image.new("RGB", (1, 1), (200, 100, 50)).convert("L"))[0, 0]
    assert abs(float(luminance(np.array([200.0, 100.0, 50.0], np.float32))) - grey) <= 0.5  # Pillow's own weights


# --- filters -----------------------------------------------------------------------------------


@pytest.mark.parametrize("radius", [1, 2, 5])
def test_box_blur_and_max_filter_are_the_mean_and_max_of_the_square(noise, radius):
    assert np.allclose(box_blur(noise, radius), neighbourhood(noise, radius).mean(axis=-1), atol=1e-3)
    assert np.array_equal(max_filter(noise, radius), neighbourhood(noise, radius).max(axis=-1))


def test_closing_removes_dark_marks_narrower_than_its_window():
    paper = np.full((40, 40), 200.0, np.float32)
    paper[:, 10:13] = 20  # a stroke 3 px wide
    paper[:, 25:] = 80  # a shadow wider than the window
    closed = closing(paper, 2)
    assert (closed[:, :25] == 200).all() and (closed[:, 25:] == 80).all()


def test_block_max_takes_each_tile_maximum():
    a = np.arange(30, dtype=np.float32).reshape(5, 6)
    assert block_max(a, 2).tolist() == [[7, 9, 11], [19, 21, 23], [25, 27, 29]]


def test_dilate_grows_a_dot_into_a_near_disk():
    dot = np.zeros((41, 41), np.float32)
    dot[20, 20] = 1
    grown = dilate(dot, 10)
    rows, cols = np.nonzero(grown)
    assert rows.max() - rows.min() == cols.max() - cols.min() == 20  # as wide as tall, radius 10
    assert grown[20 + 7, 20 + 7] == 1 and grown[20 + 9, 20 + 9] == 0  # octagon: the diagonal reaches about 10


def test_open_mask_keeps_only_the_thick_parts():
    mask = np.zeros((30, 30), bool)
    mask[5:25, 5:25] = True  # a 20 px block
    mask[14:16, :] = True  # a 2 px line through it
    opened = open_mask(np.pad(mask, 3), 3)[3:-3, 3:-3]
    assert opened[5:25, 5:25].all() and not opened[14:16, :5].any()


# --- lighting ------------------------------------------------------------------------------------


def test_fit_plane_ignores_outliers_and_upper_plane_follows_the_top():
    shape = (30, 40)
    lit = plane(np.array([150.0, 40.0, -20.0]), shape)
    marked = lit.copy()
    marked[10:20, 10:30] -= 120  # dark ink over a fifth of the picture
    assert np.allclose(plane(fit_plane(marked), shape), lit, atol=0.01)
    assert np.allclose(upper_plane(marked), lit, atol=0.5)


# --- thresholds ----------------------------------------------------------------------------------


def test_otsu_splits_two_groups_and_has_no_answer_for_one():
    values = np.concatenate([np.full(900, 10.0), np.full(100, 200.0)])
    assert 10 <= otsu(values) < 200
    assert otsu(np.full(50, 42.0)) is None
    assert otsu(np.zeros(50)) is None


def test_robust_sigma_of_normal_noise_with_outliers():
    deviations = np.random.default_rng(1).normal(0, 3, 10000)
    deviations[:500] = 1000  # 5% outliers barely move it
    assert 2.8 < robust_sigma(deviations) < 3.4


# --- connected components ----------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_label_finds_the_8_connected_components(seed):
    mask = np.random.default_rng(seed).random((25, 35)) < 0.45
    labels, count = label(mask)
    assert count == flood_fill_count(mask)
    assert np.array_equal(labels > 0, mask) and set(np.unique(labels[mask])) == set(range(1, count + 1))
    for n in range(1, count + 1):  # each label is one component
        assert flood_fill_count(labels == n) == 1


def test_component_stats():
    mask = np.zeros((10, 20), bool)
    mask[0:2, 0:3] = True  # in the corner
    mask[4:7, 9:12] = True  # in the middle
    labels, count = label(mask)
    stats = component_stats(labels, count, mask.astype(float), band=0.1)
    assert count == 2
    assert np.allclose(stats["mass"], [6, 9])
    assert stats["box"].tolist() == [[0, 0, 1, 2], [4, 9, 6, 11]]
    assert np.allclose(stats["edge_share"], [1, 0])
    assert stats["off_centre"][0] > 0.8 and stats["off_centre"][1] < 0.1


# --- shapes --------------------------------------------------------------------------------------


def test_stroke_width_box_size_and_centre_of_mass():
    canvas = Image.new("L", (400, 400), 0)
    ImageDraw.Draw(canvas).ellipse([50, 50, 350, 350], outline=255, width=12)  # a ring: edges at every angle
    assert 11.5 < stroke_width(np.asarray(canvas) > 0) < 12.5
    a = np.zeros((10, 10))
    a[2:5, 3:9] = 0.7
    assert box_size(a, 0.5) == (3, 6) and box_size(a, 0.8) == (1, 1)
    assert centre_of_mass(a) == pytest.approx((3.0, 5.5))


# --- straight lines ------------------------------------------------------------------------------


def test_near_horizontal_lines_finds_slanted_lines_and_paint_over_band_removes_them():
    canvas = Image.new("L", (600, 200), 0)
    draw = ImageDraw.Draw(canvas)
    for y in (40, 100, 160):
        draw.line([(0, y), (600, y + 21)], fill=200, width=1)  # 2 degrees
    draw.line([(300, 0), (300, 199)], fill=100, width=3)  # a stroke across them
    a = np.asarray(canvas, np.float32)
    slope, bands = near_horizontal_lines(a > 50, span=0.7, max_degrees=5, step_degrees=0.25)
    assert slope == pytest.approx(np.tan(np.radians(2)), abs=0.005)  # within a step of 0.25 degree
    assert [first for first, _ in bands] == pytest.approx([40, 100, 160], abs=2)
    for first, last in bands:
        a = paint_over_band(a, slope, first, last, grow=2)
    assert a[:, 450].max() == 0  # the lines are gone
    assert (a[:, 300] == 100).all()  # the stroke goes on through them
