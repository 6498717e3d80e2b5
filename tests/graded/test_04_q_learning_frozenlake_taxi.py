"""Graded tests of module 04 (Q-learning on FrozenLake and Taxi): exercises 4.1-4.6.

The training loop (4.2) follows module 03's random-number contract, so a seeded run must equal the
library's ``q_learning`` number for number; envs are ``FastEnv`` (same dynamics and random numbers
as gymnasium's toy-text envs, faster).
"""

import gymnasium as gym
import numpy as np
import pytest

from rlhf_edu.envs import TabularMDP
from rlhf_edu.tabular import dp as reference
from rlhf_edu.tabular.fast import FastEnv
from rlhf_edu.tabular.td import epsilon_for_episode as reference_epsilon
from rlhf_edu.tabular.td import policy_returns as reference_policy_returns
from rlhf_edu.tabular.td import q_learning
from rlhf_edu.tabular.td import train_q_learning as reference_train_q_learning

TAXI = "Taxi-v4" if "Taxi-v4" in gym.registry else "Taxi-v3"


@pytest.mark.graded(exercise="4.1", points=2)
def test_epsilon_schedule_matches_reference(solution, graded_rng):
    for _ in range(30):
        n_episodes = int(graded_rng.integers(2, 500))
        episode = int(graded_rng.integers(n_episodes))
        epsilon, final = float(graded_rng.uniform(0.5, 1)), float(graded_rng.uniform(0, 0.5))
        assert solution.epsilon_for_episode(epsilon, final, episode, n_episodes) == pytest.approx(
            reference_epsilon(epsilon, final, episode, n_episodes)
        )
    assert solution.epsilon_for_episode(0.3, None, 5, 10) == 0.3
    assert solution.epsilon_for_episode(1.0, 0.1, 9, 10) == pytest.approx(0.1)


# ------------------------------------------------------------------------ 4.2 training loop
def _unpack(result):
    if isinstance(result, dict):
        return result["Q"], result["episode_returns"], result["episode_lengths"]
    if isinstance(result, (tuple, list)):
        return result[0], result[1], result[2]
    return result.Q, result.episode_returns, result.episode_lengths


def _check_training(solution, env_id, n_episodes, alpha, gamma, epsilon, seed, epsilon_final,
                    **make_kwargs):  # fmt: skip
    Q, returns, lengths = _unpack(
        solution.train_q_learning(
            FastEnv(gym.make(env_id, **make_kwargs)),
            n_episodes,
            alpha,
            gamma,
            epsilon,
            seed,
            epsilon_final,
        )  # fmt: skip
    )
    want = q_learning(gym.make(env_id, **make_kwargs), n_episodes, alpha, gamma, epsilon,
                      seed=seed, epsilon_final=epsilon_final)  # fmt: skip
    where = (
        f"train_q_learning on {env_id} {make_kwargs or ''}, {n_episodes} episodes, epsilon "
        f"{epsilon} -> {epsilon_final}, seed {seed}"
    )
    assert len(lengths) == n_episodes, f"{where}: {len(lengths)} episode lengths"
    if not np.array_equal(np.asarray(lengths), want.episode_lengths):
        raise AssertionError(
            f"{where}: episode lengths {np.asarray(lengths)[:6]}... differ from the reference's "
            f"{want.episode_lengths[:6]}.... Check: episode k acts with "
            "epsilon_for_episode(epsilon, epsilon_final, k, n_episodes); one agent_rng = "
            "np.random.default_rng((seed, 1)) for the run, every action from "
            "epsilon_greedy(Q[s], eps, agent_rng); the env seeded at episode 0 only; stop after a "
            "step that terminated or was truncated"
        )
    np.testing.assert_array_equal(np.asarray(returns, dtype=float), want.episode_returns,
                                  err_msg=f"{where}: episode returns")  # fmt: skip
    np.testing.assert_array_equal(
        np.asarray(Q), want.Q,
        err_msg=f"{where}: Q differs (one q_learning_update per step, with terminated, not "
        "truncated, as its terminal flag)",
    )  # fmt: skip


@pytest.mark.graded(exercise="4.2", points=2)
def test_train_q_learning_equals_library_q_learning_with_a_decaying_epsilon(solution, graded_rng):
    seed = int(graded_rng.integers(10_000))
    final = float(graded_rng.uniform(0.0, 0.2))
    _check_training(solution, "FrozenLake-v1", 300, 0.2, 0.99, 1.0, seed, final)
    _check_training(solution, TAXI, 25, 0.5, 0.99, 0.8, seed, final)


@pytest.mark.graded(exercise="4.2", points=1)
def test_train_q_learning_decays_the_step_size_with_the_same_schedule(solution, graded_rng):
    seed = int(graded_rng.integers(10_000))
    alpha, alpha_final = float(graded_rng.uniform(0.3, 0.9)), float(graded_rng.uniform(0.0, 0.1))
    for env_id, n_episodes in (("FrozenLake-v1", 300), (TAXI, 20)):
        Q, returns, lengths = _unpack(
            solution.train_q_learning(
                FastEnv(gym.make(env_id)), n_episodes, alpha, 0.99, 1.0, seed, 0.05, alpha_final
            )  # fmt: skip
        )
        want = reference_train_q_learning(FastEnv(gym.make(env_id)), n_episodes, alpha, 0.99,
                                          1.0, seed, 0.05, alpha_final)  # fmt: skip
        hint = "episode k updates with the step size epsilon_for_episode(alpha, alpha_final, k, N)"
        np.testing.assert_array_equal(np.asarray(lengths), want.episode_lengths,
                                      err_msg=f"{env_id}: episode lengths differ: {hint}")  # fmt: skip
        np.testing.assert_allclose(
            np.asarray(Q), want.Q, rtol=0, atol=1e-12,
            err_msg=f"{env_id}, alpha {alpha:.3f} -> {alpha_final:.3f}: episode k must update with "
            "the step size epsilon_for_episode(alpha, alpha_final, k, n_episodes)",
        )  # fmt: skip


@pytest.mark.graded(exercise="4.2", points=1)
def test_train_q_learning_keeps_epsilon_constant_without_a_final_value(solution, graded_rng):
    seed = int(graded_rng.integers(10_000))
    _check_training(solution, "FrozenLake-v1", 200, 0.3, 0.95, 0.3, seed, None)


@pytest.mark.graded(exercise="4.2", points=1)
def test_train_q_learning_bootstraps_through_a_time_limit(solution, graded_rng):
    seed = int(graded_rng.integers(10_000))
    try:
        _check_training(solution, TAXI, 40, 0.5, 0.99, 0.5, seed, 0.1,
                        max_episode_steps=6)  # fmt: skip
    except AssertionError as error:
        raise AssertionError(
            "with a 6-step time limit: a truncated step is not a terminal one (its update still "
            f"bootstraps; only the episode stops): {error}"
        ) from None


# ---------------------------------------------------------------------- 4.3 greedy policy
@pytest.mark.graded(exercise="4.3", points=2)
def test_greedy_policy_is_one_hot_on_a_best_action(solution, graded_rng):
    Q = graded_rng.normal(size=(20, 5)).round(1)
    policy = np.asarray(solution.greedy_policy(Q, 1e-9))
    assert policy.shape == Q.shape
    np.testing.assert_array_equal(policy.sum(axis=1), 1.0)
    assert set(np.unique(policy)) <= {0.0, 1.0}
    np.testing.assert_allclose(Q[np.arange(20), policy.argmax(axis=1)], Q.max(axis=1))
    np.testing.assert_array_equal(policy, reference.greedy_policy(Q, 1e-9))


# ---------------------------------------------------------------- 4.4, 4.5 exact evaluation
@pytest.mark.graded(exercise="4.4", points=1)
def test_finite_horizon_success_of_frozenlake_optimum(solution):
    mdp = TabularMDP.from_gymnasium(gym.make("FrozenLake-v1"))
    _, policy = reference.value_iteration(mdp, 0.99)
    V = solution.finite_horizon_evaluation(mdp, policy, 100, 1.0)
    assert float(mdp.initial @ V) == pytest.approx(0.740, abs=1e-3)


@pytest.mark.graded(exercise="4.4", points=2)
def test_finite_horizon_evaluation_matches_reference(solution, graded_rng):
    mdp = TabularMDP.from_gymnasium(gym.make("FrozenLake8x8-v1"))
    for _ in range(3):
        policy = graded_rng.dirichlet(np.ones(4), size=64)
        horizon = int(graded_rng.integers(1, 60))
        gamma = float(graded_rng.uniform(0.8, 1.0))
        np.testing.assert_allclose(
            solution.finite_horizon_evaluation(mdp, policy, horizon, gamma),
            reference.finite_horizon_evaluation(mdp, policy, horizon, gamma),
            atol=1e-10,
        )


@pytest.mark.graded(exercise="4.5", points=1)
def test_finite_horizon_optimum_of_frozenlake_is_0_744_within_100_steps(solution):
    mdp = TabularMDP.from_gymnasium(gym.make("FrozenLake-v1"))
    V = np.asarray(solution.finite_horizon_optimum(mdp, 100, 1.0))
    assert float(mdp.initial @ V) == pytest.approx(0.744, abs=1e-3), (
        "the best success within 100 steps from the start is 0.744 (backward induction with a max "
        "over actions)"
    )
    assert np.all(V[mdp.terminal] == 0.0), "terminal states have no future: V* = 0 there"


@pytest.mark.graded(exercise="4.5", points=2)
def test_finite_horizon_optimum_matches_reference_and_bounds_every_policy(solution, graded_rng):
    for env_id in ("FrozenLake8x8-v1", TAXI):
        mdp = TabularMDP.from_gymnasium(gym.make(env_id))
        horizon = int(graded_rng.integers(1, 40))
        gamma = float(graded_rng.uniform(0.8, 1.0))
        V = np.asarray(solution.finite_horizon_optimum(mdp, horizon, gamma))
        np.testing.assert_allclose(
            V, reference.finite_horizon_optimum(mdp, horizon, gamma), atol=1e-10,
            err_msg=f"{env_id}, horizon {horizon}, gamma {gamma:.3f}",
        )  # fmt: skip
        policy = graded_rng.dirichlet(np.ones(mdp.n_actions), size=mdp.n_states)
        V_pi = reference.finite_horizon_evaluation(mdp, policy, horizon, gamma)
        assert np.all(V >= V_pi - 1e-9), "no policy can do better than the optimum"


# ------------------------------------------------------------------ 4.6 Monte Carlo returns
def _random_deterministic_policy(rng, n_states, n_actions):
    policy = np.zeros((n_states, n_actions))
    policy[np.arange(n_states), rng.integers(n_actions, size=n_states)] = 1.0
    return policy


@pytest.mark.graded(exercise="4.6", points=2)
def test_policy_returns_matches_reference_on_fixed_seeds(solution, graded_rng):
    env = gym.make("FrozenLake-v1")
    _, vi_policy = reference.value_iteration(TabularMDP.from_gymnasium(env), 0.99)
    for policy in (vi_policy, _random_deterministic_policy(graded_rng, 16, 4)):
        seed, n = int(graded_rng.integers(10_000)), int(graded_rng.integers(20, 80))
        got = np.asarray(solution.policy_returns(env, policy, n, seed), dtype=float)
        want = reference_policy_returns(env, policy, n, seed)
        assert got.shape == (n,), f"one return per episode: shape ({n},), got {got.shape}"
        np.testing.assert_array_equal(
            got, want,
            err_msg=f"episode i must be reset with seed + i (seed {seed}) and follow "
            "policy[s].argmax() until it terminates or is truncated",
        )  # fmt: skip


@pytest.mark.graded(exercise="4.6", points=1)
def test_policy_returns_stops_at_the_time_limit(solution, graded_rng):
    env = gym.make(TAXI)
    policy = np.zeros((500, 6))
    policy[:, 1] = 1.0  # always NORTH: never delivers, every step costs -1
    n = int(graded_rng.integers(3, 8))
    got = np.asarray(solution.policy_returns(env, policy, n, int(graded_rng.integers(100))))
    np.testing.assert_array_equal(
        got, np.full(n, -200.0), err_msg="Taxi truncates after 200 steps: each return is -200"
    )
