"""Sample quality: distinct-n counts unique n-grams over all responses."""

from __future__ import annotations

import pytest

from rlhf_edu.rlhf.sample_quality import distinct_n, mean_words, sample_quality


def test_distinct_n_is_unique_over_all_ngrams_of_all_texts():
    texts = ["The food was great.", "the food was bad!"]
    assert distinct_n(texts, 1) == pytest.approx(5 / 8)  # the, food, was, great, bad
    assert distinct_n(texts, 2) == pytest.approx(4 / 6)  # "the food", "food was" repeat
    assert distinct_n(["same words here"] * 5, 3) == pytest.approx(1 / 5)
    assert distinct_n(["too short"], 3) == 0.0


def test_sample_quality_reports_both_distincts_and_the_mean_length():
    quality = sample_quality(["a b c", "a b"])
    assert quality == {"distinct_1": 3 / 5, "distinct_2": 2 / 3, "mean_words": 2.5}
    assert mean_words(["one", "one two three"]) == 2.0


def test_bad_input_is_named():
    with pytest.raises(TypeError, match="texts"):
        distinct_n("a single string", 1)
    with pytest.raises(ValueError, match="texts is empty"):
        sample_quality([])
    with pytest.raises(ValueError, match="n must be"):
        distinct_n(["a b"], 0)
