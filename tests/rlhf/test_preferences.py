"""Preference pairs, their JSONL files, synthetic labelers and the Bayes-optimal accuracy."""

import json
import math

import numpy as np
import pytest

from rlhf_edu.rlhf.preferences import (
    LABELERS,
    PreferenceFileError,
    PreferencePair,
    bayes_optimal_accuracy,
    edits_to_pairs,
    get_labeler,
    length_utility,
    make_synthetic_pairs,
    no_repetition_utility,
    rankings_to_pairs,
    ratings_to_pairs,
    read_preferences,
    repetitions,
    sample_response_pairs,
    sentiment_utility,
    write_preferences,
)

P = "Review of the hotel:"


def test_write_then_read_gives_the_same_pairs_and_append_adds_lines(tmp_path):
    pairs = make_synthetic_pairs("mix", 20, seed=0)
    path = write_preferences(pairs[:15], tmp_path / "prefs.jsonl")
    write_preferences(pairs[15:], path, append=True)
    assert read_preferences(path) == pairs
    assert len(path.read_text().splitlines()) == 20


@pytest.mark.parametrize(
    "line, problem",
    [
        ('{"prompt": "p", "chosen": "a", ', "not valid JSON"),
        ('{"prompt": "p", "chosen": "a"}', "missing field(s) rejected"),
        ('{"prompt": "p", "chosen": "  ", "rejected": "b"}', "chosen must be a non-empty text"),
        ('{"prompt": "p", "chosen": 3, "rejected": "b"}', "chosen must be a str"),
        ('{"prompt": "p", "chosen": "same", "rejected": "same"}', "identical"),
        ('["p", "a", "b"]', "expected a JSON object"),
    ],
)
def test_malformed_line_raises_an_error_naming_file_and_line(tmp_path, line, problem):
    path = tmp_path / "bad.jsonl"
    good = json.dumps({"prompt": "p", "chosen": "a", "rejected": "b"})
    path.write_text(f"{good}\n\n{good}\n{line}\n")
    with pytest.raises(PreferenceFileError) as info:
        read_preferences(path)
    assert f"{path}:4:" in str(info.value) and problem in str(info.value)


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="no preference file"):
        read_preferences(tmp_path / "nope.jsonl")


def test_unknown_labeler_lists_the_known_ones():
    with pytest.raises(ValueError) as info:
        get_labeler("politeness")
    for name in LABELERS:
        assert repr(name) in str(info.value)


@pytest.mark.parametrize("temperature", [0.0, -1.0, float("nan")])
def test_labeler_temperature_must_be_positive(temperature):
    with pytest.raises(ValueError, match="temperature"):
        get_labeler("mix", temperature=temperature)


def test_utilities_judge_sentiment_length_and_repetition():
    assert sentiment_utility(P, " The room was great. I loved the pool.") > 0.5
    assert sentiment_utility(P, " The room was dirty. I hated the pool.") < -0.5
    assert length_utility(P, " " + "word " * 20) == 0.0
    assert length_utility(P, " word.") < length_utility(P, " " + "word " * 15)
    assert repetitions(" The bed was good. The bed was good. It was very very cozy.") == 2
    assert no_repetition_utility(P, " The bed was good.") == 0.0


def test_prob_prefers_is_bradley_terry():
    labeler = get_labeler("sentiment", temperature=0.5)
    a, b = " The room was great.", " The room was awful."
    gap = labeler.utility(P, a) - labeler.utility(P, b)
    assert labeler.prob_prefers(P, a, b) == pytest.approx(1 / (1 + math.exp(-gap / 0.5)))
    assert labeler.prob_prefers(P, a, b) + labeler.prob_prefers(P, b, a) == pytest.approx(1.0)


def test_labels_follow_the_bradley_terry_probability():
    labeler = get_labeler("sentiment", temperature=1.0)
    a, b = " The room was great.", " The room was okay."
    rng = np.random.default_rng(0)
    wins = np.mean([labeler.label(P, a, b, rng).chosen == a for _ in range(4000)])
    assert wins == pytest.approx(labeler.prob_prefers(P, a, b), abs=0.025)


def test_bayes_optimal_accuracy_is_mean_sigmoid_of_absolute_gap():
    gaps = np.array([0.0, 1.0, -2.0, 0.5])
    expected = np.mean(1 / (1 + np.exp(-np.abs(gaps) / 0.5)))
    assert bayes_optimal_accuracy(gaps, 0.5) == pytest.approx(expected)
    assert bayes_optimal_accuracy(np.zeros(5), 1.0) == 0.5
    assert bayes_optimal_accuracy(np.ones(5), 1e-3) == pytest.approx(1.0)


def test_bayes_optimal_accuracy_matches_the_optimal_predictor_empirically():
    labeler = get_labeler("mix")
    triples = sample_response_pairs(3000, seed=0)
    rng = np.random.default_rng(1)
    pairs = [labeler.label(p, a, b, rng) for p, a, b in triples]
    optimal_correct = [labeler.utility(q.prompt, q.chosen) > labeler.utility(q.prompt, q.rejected)
                       for q in pairs]  # fmt: skip
    ties = [
        labeler.utility(q.prompt, q.chosen) == labeler.utility(q.prompt, q.rejected) for q in pairs
    ]
    empirical = np.mean(np.where(ties, 0.5, optimal_correct))
    assert empirical == pytest.approx(bayes_optimal_accuracy(pairs, labeler), abs=0.02)


def test_default_labeler_ceiling_is_well_below_one():
    labeler = get_labeler("mix")
    pairs = make_synthetic_pairs(labeler, 2000, seed=0)
    assert 0.75 < bayes_optimal_accuracy(pairs, labeler) < 0.85


def test_bad_inputs_to_bayes_optimal_accuracy():
    with pytest.raises(ValueError, match="empty"):
        bayes_optimal_accuracy(np.array([]), 1.0)
    with pytest.raises(ValueError, match="temperature"):
        bayes_optimal_accuracy(np.array([1.0]), 0.0)
    with pytest.raises(TypeError, match="Labeler"):
        bayes_optimal_accuracy([PreferencePair("p", "a", "b")], 1.0)


def test_ratings_become_pairs_within_a_prompt_and_ties_are_dropped():
    prompts = [P, P, P, "Review of the gym:"]
    responses = [" a.", " b.", " c.", " d."]
    pairs = ratings_to_pairs(prompts, responses, [5, 2, 5, 1])
    assert pairs == [PreferencePair(P, " a.", " b."), PreferencePair(P, " c.", " b.")]
    with pytest.raises(ValueError, match="stars must be ints in"):
        ratings_to_pairs([P], [" a."], [6])
    with pytest.raises(ValueError, match="same length"):
        ratings_to_pairs([P], [" a.", " b."], [1, 2])


def test_a_ranking_of_k_gives_k_choose_2_pairs_best_first():
    pairs = rankings_to_pairs(P, [" best.", " middle.", " worst."])
    assert [(q.chosen, q.rejected) for q in pairs] == [
        (" best.", " middle."), (" best.", " worst."), (" middle.", " worst."),
    ]  # fmt: skip
    with pytest.raises(ValueError, match="at least 2"):
        rankings_to_pairs(P, [" only."])


def test_edits_prefer_the_edited_response_and_skip_unchanged_ones():
    pairs = edits_to_pairs(
        [P, P], [" The bed was bad.", " Fine."], [" The bed was good.", " Fine."]
    )
    assert pairs == [PreferencePair(P, " The bed was good.", " The bed was bad.")]


def test_star_ratings_are_one_to_five_and_track_the_utility():
    labeler = get_labeler("sentiment")
    rng = np.random.default_rng(0)
    good = [labeler.rate(P, " The room was great. I loved the pool.", rng) for _ in range(200)]
    bad = [labeler.rate(P, " The room was dirty. I hated the pool.", rng) for _ in range(200)]
    assert set(good) | set(bad) <= {1, 2, 3, 4, 5}
    assert np.mean(good) > np.mean(bad) + 2
