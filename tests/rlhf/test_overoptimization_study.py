"""The stored over-optimisation study (notebook 15): its content, what it shows, and a slice of it
recomputed by the current code."""

from __future__ import annotations

import numpy as np
import pytest

from rlhf_edu.app import experiment_overoptimization as study
from rlhf_edu.data import load_overoptimization
from rlhf_edu.rlhf.overoptimization import fit_gao


@pytest.fixture(scope="module")
def stored() -> dict:
    return load_overoptimization()


def test_stored_file_has_the_issue_keys_for_three_seeds(stored):
    assert stored["seeds"] == [0, 1, 2]
    assert stored["proxy_labels"] == list(study.PROXY_LABELS)
    assert stored["headline_labels"] == study.HEADLINE_LABELS
    for method in ("bon", "rl"):
        assert set(stored[method]) == {"sqrt_kl", "gold", "proxy", "fit"}
        assert set(stored[method]["fit"]) == {"alpha", "beta"}
        assert len(stored[method]["sqrt_kl"]) == len(stored[method]["gold"])
    assert len(stored["bon"]["sqrt_kl"]) == len(study.BON_NS)
    assert len(stored["rl"]["sqrt_kl"]) == stored["settings"]["rl_updates"]
    assert list(stored["by_labels"]) == [str(n) for n in study.PROXY_LABELS]


def test_summaries_and_fits_follow_from_the_stored_per_seed_curves(stored):
    again = study.assemble(stored["per_seed"], stored["proxy_labels"])
    assert again["by_labels"] == stored["by_labels"]
    assert again["bon"] == stored["bon"] and again["rl"] == stored["rl"]
    for method in ("bon", "rl"):
        fit = fit_gao(method, stored[method]["sqrt_kl"], stored[method]["gold"])
        assert (fit.alpha, fit.beta) == pytest.approx(
            (stored[method]["fit"]["alpha"], stored[method]["fit"]["beta"]), abs=1e-5
        )


@pytest.mark.parametrize("method,labels", [("bon", 30), ("rl", 30), ("rl", 100)])
def test_gold_peaks_and_turns_down_while_the_proxy_keeps_rising(stored, method, labels):
    """Over three seeds: for best-of-n with the 30-label proxy, for RL with 30 and 100 labels."""
    curve = stored["by_labels"][str(labels)][method]
    gold, proxy = np.array(curve["gold"]), np.array(curve["proxy"])
    peak = int(np.argmax(gold))
    assert 0 < peak < len(gold) - 1, f"{method}: the gold score has no interior peak"
    assert gold[-1] < gold[peak] - 0.05, f"{method}: the gold score does not turn down"
    assert proxy[-1] > proxy[peak] + 0.3, f"{method}: the proxy does not keep rising"
    assert curve["fit"]["beta"] > 0
    assert curve["fit_peak_sqrt_kl"] < max(curve["sqrt_kl"])


def test_more_labels_give_a_better_proxy_and_more_gold_at_the_largest_n(stored):
    by_labels = stored["by_labels"]
    accuracy = [by_labels[str(n)]["accuracy"] for n in study.PROXY_LABELS]
    assert accuracy == sorted(accuracy)
    best_of_256 = [by_labels[str(n)]["bon"]["gold"][-1] for n in study.PROXY_LABELS]
    assert best_of_256[-1] > best_of_256[0] + 0.3
    for n in study.PROXY_LABELS:
        bon = by_labels[str(n)]["bon"]
        assert np.all(np.diff(bon["proxy"]) > 0)  # best-of-n always raises its own proxy


def test_a_slice_of_seed_0_is_reproduced_by_the_current_code(stored):
    """The 30-label proxy's accuracy, the first two prompts' initial gold and the first two PPO
    updates against that proxy, recomputed (catches stale stored results after a change to the
    models, the prompts, the proxy training or the trainer)."""
    from rlhf_edu.rlhf.lm import load_tiny_lm
    from rlhf_edu.rlhf.preferences import get_labeler

    seed_result = stored["per_seed"][0]
    entry = seed_result[str(study.PROXY_LABELS[0])]
    _, tokenizer = load_tiny_lm()
    proxy, accuracy = study.train_proxy(study.PROXY_LABELS[0], 0, tokenizer)
    assert accuracy == pytest.approx(entry["accuracy"], abs=1e-5)

    prompts, responses = study.initial_policy_samples(0, n_prompts=2)
    gold = get_labeler(study.LABELER).utilities(prompts, responses).reshape(2, study.N_SAMPLES)
    assert gold.mean(axis=1) == pytest.approx(seed_result["initial_gold_by_prompt"][:2], abs=1e-5)

    proxy.mean, proxy.std = entry["normalization"]
    curve = study.rl_curve(proxy, 0, 2, seed_result["initial_gold"], 0.0)
    for key in ("kl", "proxy", "gold"):
        assert curve[key] == pytest.approx(entry["rl"][key][:2], abs=1e-3), key
