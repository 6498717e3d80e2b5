"""Inverse RL: soft value iteration, feature expectations, MaxEnt IRL and preference-based IRL."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rlhf_edu.envs.gridworlds import gridworld_mdp
from rlhf_edu.tabular import irl
from rlhf_edu.tabular.dp import policy_evaluation, start_value, value_iteration

GAMMA = 0.9


def test_soft_values_satisfy_the_soft_bellman_equations_and_the_policy_is_exp_q_minus_v():
    mdp = gridworld_mdp((3, 4), terminal_cells=((0, 0),))
    reward = np.linspace(-1, 1, mdp.n_states)
    V, Q, policy = irl.soft_value_iteration(mdp, reward, GAMMA, tol=1e-12)
    live = ~mdp.terminal
    expected_Q = reward[:, None] + GAMMA * mdp.P @ V
    np.testing.assert_allclose(Q[live], expected_Q[live], atol=1e-9)
    np.testing.assert_allclose(V[live], np.log(np.exp(Q[live]).sum(axis=1)), atol=1e-9)
    np.testing.assert_allclose(policy[live], np.exp(Q[live] - V[live, None]), atol=1e-9)
    assert V[mdp.terminal] == pytest.approx(0.0) and np.all(Q[mdp.terminal] == 0.0)
    np.testing.assert_allclose(policy.sum(axis=1), 1.0)


def test_a_state_action_reward_and_its_state_reward_give_the_same_soft_values():
    mdp = gridworld_mdp((3, 3), terminal_cells=())
    reward = np.arange(mdp.n_states, dtype=float) / 10
    by_state = irl.soft_value_iteration(mdp, reward, GAMMA)
    by_pair = irl.soft_value_iteration(mdp, np.repeat(reward[:, None], 4, axis=1), GAMMA)
    for a, b in zip(by_state, by_pair):
        np.testing.assert_allclose(a, b)


def test_a_large_reward_scale_makes_the_soft_policy_the_optimal_one():
    mdp, features, theta = irl.colour_gridworld(seed=0)
    _, hard = value_iteration(mdp, GAMMA)
    _, _, soft = irl.soft_value_iteration(mdp, 100 * features @ theta, GAMMA)
    V_star, _ = value_iteration(mdp, GAMMA)
    soft_value = start_value(mdp, policy_evaluation(mdp, soft, GAMMA))
    assert soft_value == pytest.approx(start_value(mdp, V_star), rel=1e-4)
    assert start_value(mdp, policy_evaluation(mdp, hard, GAMMA)) == pytest.approx(
        soft_value, rel=1e-4
    )


def test_exact_feature_expectations_match_the_average_of_sampled_trajectories():
    mdp, features, theta = irl.colour_gridworld(seed=1)
    _, _, policy = irl.soft_value_iteration(mdp, features @ theta, GAMMA)
    exact = irl.feature_expectations(mdp, features, policy, GAMMA, horizon=40)
    trajectories = irl.sample_trajectories(mdp, policy, n=3000, horizon=40, seed=0)
    sampled = irl.feature_expectations(mdp, features, trajectories, GAMMA, horizon=40)
    np.testing.assert_allclose(sampled, exact, atol=0.1)
    assert exact.sum() == pytest.approx((1 - GAMMA**40) / (1 - GAMMA))  # one-hot features


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_maxent_irl_recovers_a_reward_whose_optimal_policy_is_near_optimal(seed):
    mdp, features, theta = irl.colour_gridworld(seed=seed)
    _, _, expert = irl.soft_value_iteration(mdp, features @ theta, GAMMA)
    demonstrations = irl.sample_trajectories(mdp, expert, n=10, horizon=30, seed=seed)
    theta_hat = irl.maxent_irl(mdp, features, demonstrations, GAMMA, n_iters=200)
    correlation = np.corrcoef(features @ theta_hat, features @ theta)[0, 1]
    assert correlation > 0.9, theta_hat
    assert irl.optimal_fraction(mdp, features @ theta_hat, GAMMA) >= 0.95
    # the bar means something: the uniform random policy is far below it
    V_star, _ = value_iteration(mdp, GAMMA)
    uniform = np.full((mdp.n_states, mdp.n_actions), 1 / mdp.n_actions)
    assert start_value(mdp, policy_evaluation(mdp, uniform, GAMMA)) < 0.5 * start_value(mdp, V_star)


def test_maxent_irl_stops_where_the_learned_policy_matches_the_experts_feature_counts():
    mdp, features, theta = irl.colour_gridworld(seed=0)
    _, _, expert = irl.soft_value_iteration(mdp, features @ theta, GAMMA)
    demonstrations = irl.sample_trajectories(mdp, expert, n=20, horizon=30, seed=0)
    gaps = []
    for n_iters in (5, 400):
        theta_hat = irl.maxent_irl(mdp, features, demonstrations, GAMMA, n_iters=n_iters)
        starts = np.bincount([d[0][0] for d in demonstrations], minlength=mdp.n_states) / 20
        mu_expert = irl.feature_expectations(mdp, features, demonstrations, GAMMA, 30)
        gradient = irl.maxent_gradient(mdp, features, theta_hat, mu_expert, GAMMA, 30, starts)
        gaps.append(np.abs(gradient).max())
    assert gaps[1] < 0.2 * gaps[0]


def noisy_pairs(mdp, features, theta, n, seed):
    """Pairs of trajectories from policies of mixed quality, ordered by a Bradley-Terry labeler."""
    rng = np.random.default_rng(seed)
    policies = [
        irl.soft_value_iteration(mdp, scale * features @ theta, GAMMA)[2]
        for scale in (0, 0.1, 0.3, 1)
    ]
    pairs = []
    for _ in range(n):
        a, b = (
            irl.sample_trajectories(mdp, policies[i], 1, 30, int(rng.integers(2**31)))[0]
            for i in rng.choice(len(policies), 2)
        )
        returns = [irl.trajectory_features(mdp, features, t, GAMMA) @ theta for t in (a, b)]
        first_wins = rng.random() < 1 / (1 + np.exp(returns[1] - returns[0]))
        pairs.append((a, b) if first_wins else (b, a))
    return pairs


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_preferences_over_trajectories_recover_the_reward_too(seed):
    mdp, features, theta = irl.colour_gridworld(seed=seed)
    theta_hat = irl.preference_irl(
        mdp, features, noisy_pairs(mdp, features, theta, 50, seed), GAMMA
    )
    assert np.corrcoef(features @ theta_hat, features @ theta)[0, 1] > 0.9
    assert irl.optimal_fraction(mdp, features @ theta_hat, GAMMA) >= 0.95


def test_bad_inputs_name_the_argument():
    mdp, features, theta = irl.colour_gridworld(seed=0)
    with pytest.raises(ValueError, match=r"demonstrations\[1\]\[2\] has state 99"):
        irl.maxent_irl(mdp, features, [[(0, 1)], [(0, 1), (1, 1), (99, 0)]], GAMMA)
    with pytest.raises(ValueError, match=r"demonstrations\[0\]\[0\] has action 7"):
        irl.maxent_irl(mdp, features, [[(0, 7)]], GAMMA)
    with pytest.raises(ValueError, match="features must have shape"):
        irl.maxent_irl(mdp, features[:-1], [[(0, 1)]], GAMMA)
    with pytest.raises(ValueError, match="reward must have shape"):
        irl.soft_value_iteration(mdp, np.zeros(5), GAMMA)
    with pytest.raises(ValueError, match="gamma"):
        irl.soft_value_iteration(mdp, features @ theta, 1.5)
    with pytest.raises(ValueError, match="demonstrations is empty"):
        irl.maxent_irl(mdp, features, [], GAMMA)
    with pytest.raises(ValueError, match="pairs is empty"):
        irl.preference_irl(mdp, features, [], GAMMA)
    with pytest.raises(RuntimeError, match="did not converge"):
        irl.soft_value_iteration(mdp, features @ theta, 1.0, max_iter=50)


def test_the_trajectory_preference_loss_is_bradley_terry_on_returns_and_its_gradient_drives_the_fit():
    rng = np.random.default_rng(0)
    winners, losers, theta = rng.normal(size=(6, 4)), rng.normal(size=(6, 4)), rng.normal(size=4)
    margin = (winners - losers) @ theta
    expected = np.mean(-np.log(1 / (1 + np.exp(-margin))))
    assert irl.trajectory_preference_loss(theta, winners, losers) == pytest.approx(expected)
    # preference_irl descends exactly this loss (plus its l2 term)
    mdp, features, true_theta = irl.colour_gridworld(seed=0)
    pairs = noisy_pairs(mdp, features, true_theta, 30, seed=0)
    phi = [
        np.array([irl.trajectory_features(mdp, features, t, GAMMA) for t in side])
        for side in zip(*pairs)
    ]
    fitted = irl.preference_irl(mdp, features, pairs, GAMMA, l2=0.0, n_iters=300)
    assert (
        irl.trajectory_preference_loss(fitted, *phi)
        < irl.trajectory_preference_loss(np.zeros(4), *phi) - 0.1
    )
    with pytest.raises(ValueError, match="same shape"):
        irl.trajectory_preference_loss(theta, winners, losers[:3])


def test_optimal_fraction_is_one_for_the_true_reward_and_low_for_its_opposite():
    mdp, features, theta = irl.colour_gridworld(seed=3)
    assert irl.optimal_fraction(mdp, features @ theta, GAMMA) == pytest.approx(1.0)
    assert irl.optimal_fraction(mdp, 2.0 * features @ theta + 1.0, GAMMA) == pytest.approx(1.0)
    assert irl.optimal_fraction(mdp, -(features @ theta), GAMMA) < 0.2


def test_trajectory_pairs_are_seeded_and_mostly_prefer_the_higher_true_return():
    mdp, features, theta = irl.colour_gridworld(seed=1)
    pairs = irl.sample_trajectory_pairs(mdp, features, theta, 40, 30, GAMMA, seed=7)
    again = irl.sample_trajectory_pairs(mdp, features, theta, 40, 30, GAMMA, seed=7)
    assert all(
        np.array_equal(a, c) and np.array_equal(b, d) for (a, b), (c, d) in zip(pairs, again)
    )

    def ret(t):
        return irl.trajectory_features(mdp, features, t, GAMMA) @ theta

    agree = np.mean([ret(w) > ret(lo) for w, lo in pairs])
    assert len(pairs) == 40 and agree > 0.75


def test_trajectory_pairs_name_a_theta_of_the_wrong_shape():
    mdp, features, _ = irl.colour_gridworld()
    with pytest.raises(ValueError, match=r"theta must have shape \(4,\)"):
        irl.sample_trajectory_pairs(mdp, features, np.ones(3), 5, 10, GAMMA, seed=0)


def test_irl_experiment_writes_results_and_plots_that_hold_the_lesson(tmp_path, monkeypatch):
    from rlhf_edu.app import experiment_irl
    from rlhf_edu.app.cli import main

    monkeypatch.setattr(experiment_irl, "BUDGETS", (5, 50))
    monkeypatch.setattr(experiment_irl.run_irl_study, "__defaults__", ((5, 50),))
    assert main(["experiment", "irl", "--seeds", "1", "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["budgets"] == [5, 50] and results["seeds"] == [0]
    for measure in ("reward_correlation", "optimal_fraction"):
        for method in ("maxent", "trex"):
            assert len(results[measure][method]["per_seed"]) == 1
        assert (tmp_path / f"{measure}.png").stat().st_size > 10_000
    # with 50 answers both methods recover a reward whose optimal policy is near-optimal
    for method in ("maxent", "trex"):
        assert results["reward_correlation"][method]["mean"][-1] > 0.9
        assert results["optimal_fraction"][method]["mean"][-1] >= 0.95
