"""``purenet.base.checks``: the value checks a run's settings and a checkpoint share, and a
value quoted in a message, cut to a line."""

from __future__ import annotations

import math

import pytest

from purenet.base.checks import MAX_WHOLE, cut, is_real, is_whole, one_line, shown


@pytest.mark.parametrize("value, expected", [
    (0, True), (-MAX_WHOLE, True), (MAX_WHOLE, True), (MAX_WHOLE + 1, False), (-MAX_WHOLE - 1, False),
    (True, False), (False, False), (1.0, False), ("1", False), (None, False),
])
def test_is_whole_takes_ints_within_int64_and_never_a_bool(value, expected):
    assert is_whole(value) is expected


def test_is_whole_bounds():
    assert is_whole(1, 1) and not is_whole(0, 1) and is_whole(5, 0, 5) and not is_whole(6, 0, 5)


def test_is_real_refuses_a_number_too_large_for_a_float():
    assert not is_real(10**5000)  # (not a parameter above: pytest names a test by str() of it, which fails)


@pytest.mark.parametrize("value, expected", [
    (0, True), (1.5, True), (-1e308, True), (10**308, True), (10**309, False),
    (math.inf, False), (-math.inf, False), (math.nan, False), (True, False), ("1", False), (None, False),
])
def test_is_real_takes_finite_numbers_and_never_a_bool(value, expected):
    assert is_real(value) is expected


def test_cut_keeps_short_text_and_ends_long_text_in_dots():
    assert cut("abcdef", 6) == "abcdef"
    assert cut("abcdefg", 6) == "abc..."
    assert cut(b"abcdefg", 6) == b"abc..."
    assert len(cut("x" * 1000, 80)) == 80


def test_one_line_joins_whitespace_and_cuts():
    assert one_line("a\n  b\tc") == "a b c"
    assert one_line("word " * 100, 20) == "word word word wo..."


@pytest.mark.parametrize("value, expected", [
    ("lr", "'lr'"),
    (0.5, "0.5"),
    (10**59, repr(10**59)),  # 60 digits, 196 bits: shown whole
    (10**60, "100000000000... (61 digits)"),  # 200 bits
    (10**300, "100000000000... (301 digits)"),
    (-(10**300), "-100000000000... (301 digits)"),
    (10**300 - 1, "999999999999... (300 digits)"),
    (2**1000, "107150860718... (302 digits)"),
])
def test_shown_quotes_a_value_and_a_long_whole_number_by_its_first_digits(value, expected):
    assert shown(value) == expected


def test_shown_quotes_a_whole_number_python_cannot_turn_into_text():
    # str() of an int over 4,300 digits raises ValueError: the message must not
    assert shown(10**5000) == "100000000000... (5001 digits)"
    assert shown(7 * 10**9999) == "700000000000... (10000 digits)"


def test_shown_cuts_a_long_repr():
    assert shown("x" * 200) == "'" + "x" * 76 + "..."
    assert len(shown(list(range(1000)), 60)) == 60


def test_a_setting_of_thousands_of_digits_is_refused_with_its_count(tmp_path):
    from purenet.runs.config import ConfigError, RunConfig

    with pytest.raises(ConfigError, match=r"epochs must be a whole number from 1 to \d+, got 100000000000\.\.\. \(5001 digits\)"):
        RunConfig(layers=(784, 10), epochs=10**5000)
    with pytest.raises(ConfigError, match=r"lr must be a finite number above 0, got 100000000000\.\.\. \(5001 digits\)"):
        RunConfig(layers=(784, 10), lr=10**5000)


def test_a_number_of_thousands_of_digits_is_named_not_a_crash():
    """Python refuses str() of an int over 4,300 digits; the messages quoting a setting must not."""
    from purenet.data.augment import Augmenter, AugmentError
    from purenet.runs.config import ConfigError
    from purenet.runs.run import epochs_to_reach

    with pytest.raises(AugmentError, match=r"got 100000000000\.\.\. \(5001 digits\)"):
        Augmenter(shift=10**5000)
    with pytest.raises(ConfigError, match=r"got 100000000000\.\.\. \(5001 digits\)"):
        epochs_to_reach("run.npz", 3, 5, 10**5000)
