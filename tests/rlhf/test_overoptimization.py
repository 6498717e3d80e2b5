"""Gao et al. (2022) functional forms: exact recovery, peaks, and bad input."""

import math

import numpy as np
import pytest

from rlhf_edu.rlhf.overoptimization import fit_gao, gao_curve


@pytest.mark.parametrize("form,alpha,beta", [("bon", 1.3, 0.4), ("rl", 0.9, 0.35)])
def test_a_fit_recovers_the_coefficients_of_a_noiseless_curve(form, alpha, beta):
    d = np.linspace(0.0, 4.0, 17)
    fit = fit_gao(form, d, gao_curve(form, d, alpha, beta))
    assert (fit.alpha, fit.beta) == pytest.approx((alpha, beta), abs=1e-9)
    assert fit(0.0) == pytest.approx([0.0])


def test_peaks_are_where_the_derivative_vanishes():
    bon = fit_gao("bon", [1.0, 2.0, 3.0], gao_curve("bon", [1.0, 2.0, 3.0], 2.0, 0.5))
    assert bon.peak_sqrt_kl == pytest.approx(2.0)
    rl = fit_gao("rl", [1.0, 2.0, 3.0], gao_curve("rl", [1.0, 2.0, 3.0], 1.0, 0.5))
    d = rl.peak_sqrt_kl
    assert d == pytest.approx(math.e)
    eps = 1e-4
    assert rl(d - eps)[0] < rl(d)[0] and rl(d + eps)[0] < rl(d)[0]


def test_noisy_points_give_a_fit_close_to_the_truth():
    rng = np.random.default_rng(0)
    d = np.repeat(np.linspace(0.2, 3.0, 15), 3)
    gold = gao_curve("bon", d, 1.0, 0.3) + rng.normal(0, 0.02, d.shape)
    fit = fit_gao("bon", d, gold)
    assert fit.alpha == pytest.approx(1.0, abs=0.05) and fit.beta == pytest.approx(0.3, abs=0.03)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="form must be 'bon' or 'rl'"):
        fit_gao("ppo", [1, 2], [1, 2])
    with pytest.raises(ValueError, match="same length"):
        fit_gao("bon", [1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="at least two points"):
        fit_gao("rl", [0.0, 1.0], [0.0, 1.0])
    with pytest.raises(ValueError, match="sqrt_kl must be"):
        gao_curve("bon", [-1.0], 1.0, 1.0)


def test_best_of_n_estimate_is_the_mean_over_every_subset_of_n_samples():
    import itertools

    from rlhf_edu.rlhf.overoptimization import best_of_n_estimate

    rng = np.random.default_rng(1)
    proxy, gold = rng.normal(size=(3, 6)), rng.normal(size=(3, 6))
    for n in (1, 2, 3, 6):
        picks = [
            [
                (proxy[i, b], gold[i, b])
                for b in (max(c, key=lambda j: proxy[i, j]) for c in subsets)
            ]
            for i in range(3)
            for subsets in [list(itertools.combinations(range(6), n))]
        ]
        want = np.mean([np.mean(rows, axis=0) for rows in picks], axis=0)
        assert best_of_n_estimate(proxy, gold, n) == pytest.approx(tuple(want), abs=1e-12)
    assert best_of_n_estimate(proxy, gold, 6)[1] == pytest.approx(
        gold[np.arange(3), proxy.argmax(1)].mean()
    )


def test_best_of_n_estimate_names_bad_input():
    from rlhf_edu.rlhf.overoptimization import best_of_n_estimate

    with pytest.raises(ValueError, match="n must be an int in"):
        best_of_n_estimate(np.zeros((2, 4)), np.zeros((2, 4)), 5)
    with pytest.raises(ValueError, match="proxy .* and gold"):
        best_of_n_estimate(np.zeros((2, 4)), np.zeros((2, 3)), 1)
