"""Graded tests of module 02 (dynamic programming and Monte Carlo): exercises 2.1-2.9."""

import gymnasium as gym
import numpy as np
import pytest

from rlhf_edu.envs import TabularMDP, sb_gridworld_4x4, sb_gridworld_5x5
from rlhf_edu.envs.tabular_env import TabularEnv
from rlhf_edu.grading.selfcheck import failure, given
from rlhf_edu.tabular import dp as reference_dp
from rlhf_edu.tabular import mc as reference_mc
from rlhf_edu.tabular.dp import policy_evaluation as reference_evaluation
from rlhf_edu.tabular.dp import q_from_v as reference_q_from_v
from rlhf_edu.tabular.dp import value_iteration as reference_value_iteration


def random_mdp(rng: np.random.Generator) -> TabularMDP:
    """A random MDP with one absorbing terminal state (the last)."""
    n_states, n_actions = int(rng.integers(3, 7)), int(rng.integers(2, 4))
    P = rng.random((n_states, n_actions, n_states)) * (
        rng.random((n_states, n_actions, n_states)) < 0.6
    )
    P[:, :, -1] += 0.1  # every action can end the episode
    P /= P.sum(axis=2, keepdims=True)
    R = rng.normal(size=(n_states, n_actions))
    P[-1] = 0.0
    P[-1, :, -1] = 1.0
    R[-1] = 0.0
    terminal = np.zeros(n_states, dtype=bool)
    terminal[-1] = True
    return TabularMDP(P, R, terminal)


@pytest.mark.graded(exercise="2.1", points=2)
def test_q_from_v_matches_reference_on_random_mdps(solution, graded_rng):
    for _ in range(10):
        mdp = random_mdp(graded_rng)
        V = graded_rng.normal(size=mdp.n_states)
        gamma = float(graded_rng.uniform(0.5, 1.0))
        np.testing.assert_allclose(
            solution.q_from_v(mdp, V, gamma), reference_q_from_v(mdp, V, gamma), atol=1e-10
        )


@pytest.mark.graded(exercise="2.2", points=1)
def test_policy_evaluation_reproduces_example_4_1(solution):
    mdp = sb_gridworld_4x4()
    V = solution.policy_evaluation(mdp, np.full((16, 4), 0.25), 1.0, 1e-8)
    np.testing.assert_allclose(np.asarray(V).reshape(4, 4)[0], [0, -14, -20, -22], atol=1e-3)


@pytest.mark.graded(exercise="2.2", points=2)
def test_policy_evaluation_matches_reference_on_random_mdps_and_policies(solution, graded_rng):
    for _ in range(5):
        mdp = random_mdp(graded_rng)
        policy = graded_rng.dirichlet(np.ones(mdp.n_actions), size=mdp.n_states)
        gamma = float(graded_rng.uniform(0.5, 0.99))
        want = reference_evaluation(mdp, policy, gamma, 1e-10)
        np.testing.assert_allclose(
            solution.policy_evaluation(mdp, policy, gamma, 1e-10), want, atol=1e-6
        )


@pytest.mark.graded(exercise="2.3", points=1)
def test_value_iteration_reproduces_figure_3_5(solution):
    V, policy = solution.value_iteration(sb_gridworld_5x5(), 0.9, 1e-8)
    np.testing.assert_allclose(
        np.asarray(V).reshape(5, 5)[0], [22.0, 24.4, 22.0, 19.4, 17.5], atol=0.051
    )
    assert np.asarray(policy).shape == (25, 4)


@pytest.mark.graded(exercise="2.3", points=2)
def test_value_iteration_matches_reference_and_its_policy_is_greedy(solution, graded_rng):
    for _ in range(5):
        mdp = random_mdp(graded_rng)
        gamma = float(graded_rng.uniform(0.5, 0.99))
        V, policy = solution.value_iteration(mdp, gamma, 1e-10)
        V_ref, _ = reference_value_iteration(mdp, gamma, 1e-10)
        np.testing.assert_allclose(V, V_ref, atol=1e-6)
        Q = reference_q_from_v(mdp, V_ref, gamma)
        chosen = np.asarray(policy).argmax(axis=1)
        np.testing.assert_allclose(Q[np.arange(mdp.n_states), chosen], Q.max(axis=1), atol=1e-6)


def mdp_without_terminal_states(rng: np.random.Generator) -> TabularMDP:
    """A random MDP whose states all continue (so a constant shift of V moves T V by gamma times it)."""
    n_states, n_actions = int(rng.integers(3, 7)), int(rng.integers(2, 4))
    P = rng.random((n_states, n_actions, n_states)) + 0.05
    P /= P.sum(axis=2, keepdims=True)
    return TabularMDP(P, rng.normal(size=(n_states, n_actions)), np.zeros(n_states, dtype=bool))


@pytest.mark.graded(exercise="2.4", points=2)
def test_contraction_sides_match_the_reference_on_random_value_functions(solution, graded_rng):
    for i in range(10):
        mdp = random_mdp(graded_rng) if i % 2 else mdp_without_terminal_states(graded_rng)
        V1, V2 = graded_rng.normal(size=(2, mdp.n_states)) * graded_rng.uniform(0.1, 10)
        gamma = float(graded_rng.uniform(0.0, 1.0))
        got = solution.bellman_contraction_sides(mdp, V1, V2, gamma)
        want = reference_dp.bellman_contraction_sides(mdp, V1, V2, gamma)
        assert len(got) == 2, "return (lhs, rhs)"
        np.testing.assert_allclose(
            [float(x) for x in got],
            want,
            atol=1e-9,
            err_msg="lhs = max|T V1 - T V2| with T V = max_a Q (the optimality operator), "
            "rhs = gamma * max|V1 - V2| (the max norm, not a sum or mean)",
        )
        assert got[0] <= got[1] + 1e-9, "the bound lhs <= rhs must hold"


@pytest.mark.graded(exercise="2.4", points=1)
def test_contraction_is_tight_for_a_constant_shift(solution, graded_rng):
    mdp = mdp_without_terminal_states(graded_rng)
    V = graded_rng.normal(size=mdp.n_states)
    shift, gamma = float(graded_rng.uniform(1, 5)), float(graded_rng.uniform(0.3, 0.95))
    lhs, rhs = solution.bellman_contraction_sides(mdp, V, V + shift, gamma)
    assert rhs == pytest.approx(gamma * shift), "rhs = gamma * max_s |V1(s) - V2(s)|"
    assert lhs == pytest.approx(gamma * shift), "T (V + c) = T V + gamma c: is gamma applied once?"


@pytest.mark.graded(exercise="2.5", points=1)
def test_improve_policy_without_current_actions_is_the_argmax(solution, graded_rng):
    Q = graded_rng.normal(size=(int(graded_rng.integers(3, 9)), int(graded_rng.integers(2, 5))))
    np.testing.assert_array_equal(np.asarray(solution.improve_policy(Q, None)), Q.argmax(axis=1))


@pytest.mark.graded(exercise="2.5", points=1)
def test_improve_policy_keeps_a_tied_action_and_leaves_a_worse_one(solution, graded_rng):
    n_states, n_actions = int(graded_rng.integers(4, 9)), int(graded_rng.integers(3, 5))
    Q = graded_rng.integers(0, 3, size=(n_states, n_actions)).astype(float)  # many ties
    Q += graded_rng.uniform(-1e-12, 1e-12, size=Q.shape)  # "ties" from an iterative evaluation
    actions = graded_rng.integers(n_actions, size=n_states)
    got = np.asarray(solution.improve_policy(Q, actions))
    want = reference_dp.improve_policy(Q, actions)
    np.testing.assert_array_equal(
        got, want, err_msg="keep actions[s] while Q[s, actions[s]] >= max - tol, else argmax"
    )


@pytest.mark.graded(exercise="2.6", points=2)
def test_policy_iteration_matches_the_reference_on_random_mdps(solution, graded_rng):
    for _ in range(4):
        mdp = random_mdp(graded_rng)
        gamma = float(graded_rng.uniform(0.5, 0.99))
        V, policy = solution.policy_iteration(mdp, gamma, 1e-10)
        V_ref, policy_ref = reference_dp.policy_iteration(mdp, gamma, 1e-10)
        np.testing.assert_allclose(V, V_ref, atol=1e-6, err_msg="V of the final policy")
        np.testing.assert_array_equal(
            np.asarray(policy), policy_ref, err_msg="one-hot (S, A) policy, as the reference's"
        )


@pytest.mark.graded(exercise="2.6", points=1)
def test_policy_iteration_stops_on_the_tied_gridworld_with_optimal_values(solution):
    mdp = sb_gridworld_4x4()
    V, policy = solution.policy_iteration(mdp, 1.0, 1e-8, max_iterations=30)
    np.testing.assert_allclose(
        np.asarray(V).reshape(4, 4)[0], [0, -1, -2, -3], atol=1e-6, err_msg="v* of Example 4.1"
    )
    assert np.asarray(policy).shape == (16, 4)


@pytest.mark.graded(exercise="2.6", points=1)
def test_policy_iteration_returns_a_policy_whose_values_it_returns(solution, graded_rng):
    mdp = random_mdp(graded_rng)
    gamma = float(graded_rng.uniform(0.5, 0.95))
    V, policy = solution.policy_iteration(mdp, gamma, 1e-10)
    policy = np.asarray(policy, dtype=np.float64)
    np.testing.assert_allclose(policy.sum(axis=1), 1.0, err_msg="rows of the policy sum to 1")
    np.testing.assert_allclose(
        reference_evaluation(mdp, policy, gamma, 1e-10),
        V,
        atol=1e-6,
        err_msg="return the values of the stable policy, not of the previous one",
    )


@pytest.mark.graded(exercise="2.7", points=2)
def test_first_visit_returns_match_the_reference_on_episodes_that_revisit(solution, graded_rng):
    for _ in range(10):
        T = int(graded_rng.integers(1, 15))
        states = graded_rng.integers(0, 3, size=T).tolist()  # few states: many revisits
        actions = graded_rng.integers(0, 2, size=T).tolist()
        rewards = graded_rng.normal(size=T).round(3).tolist()
        gamma = float(graded_rng.uniform(0.5, 1.0))
        got = solution.first_visit_returns(states, actions, rewards, gamma)
        want = reference_mc.first_visit_returns(states, actions, rewards, gamma)
        assert [(int(s), int(a)) for s, a, _ in got] == [(s, a) for s, a, _ in want], (
            "one tuple per (s, a), at its first visit, in time order (every-visit?)"
        )
        np.testing.assert_allclose([G for *_, G in got], [G for *_, G in want], atol=1e-9)


@pytest.mark.graded(exercise="2.7", points=1)
def test_first_visit_returns_take_rewards_t_as_the_reward_after_actions_t(solution, graded_rng):
    gamma = float(graded_rng.uniform(0.5, 0.9))
    r = graded_rng.uniform(1, 2, size=3).tolist()
    got = solution.first_visit_returns([0, 1, 2], [0, 0, 0], r, gamma)
    want = [r[0] + gamma * r[1] + gamma**2 * r[2], r[1] + gamma * r[2], r[2]]
    np.testing.assert_allclose(
        [G for *_, G in got],
        want,
        err_msg="G_t = rewards[t] + gamma * G_{t+1} (rewards[t] is R_{t+1}), walked backwards",
    )


@pytest.mark.graded(exercise="2.8", points=2)
def test_mc_control_matches_the_reference_seeded_on_the_slippery_lake(solution, graded_rng):
    seed = int(graded_rng.integers(10_000))
    gamma, epsilon = float(graded_rng.uniform(0.9, 1.0)), float(graded_rng.uniform(0.1, 0.5))
    Q, returns = solution.first_visit_mc_control(
        gym.make("FrozenLake-v1"), 150, gamma, epsilon, seed
    )
    Q_ref, returns_ref = reference_mc.first_visit_mc_control(
        gym.make("FrozenLake-v1"), 150, gamma, epsilon, seed
    )
    np.testing.assert_allclose(
        returns,
        returns_ref,
        err_msg="env.reset(seed=seed) in the first episode only? one rng = default_rng((seed, 1))?",
    )
    np.testing.assert_allclose(
        Q,
        Q_ref,
        atol=1e-9,
        err_msg="sample averages of first-visit returns, after each episode, written "
        "Q += (G - Q) / N as the recipe says (other roundings change which actions tie)",
    )


@pytest.mark.graded(exercise="2.8", points=1)
def test_mc_control_matches_the_reference_undiscounted_on_the_calm_lake(solution, graded_rng):
    seed, epsilon = int(graded_rng.integers(10_000)), float(graded_rng.uniform(0.1, 0.3))
    make = lambda: gym.make("FrozenLake-v1", is_slippery=False)  # noqa: E731
    Q, returns = solution.first_visit_mc_control(make(), 100, 1.0, epsilon, seed)
    Q_ref, returns_ref = reference_mc.first_visit_mc_control(make(), 100, 1.0, epsilon, seed)
    np.testing.assert_allclose(returns, returns_ref)
    np.testing.assert_allclose(Q, Q_ref, atol=1e-9)


@pytest.mark.graded(exercise="2.8", points=1)
def test_mc_control_learns_to_cross_the_calm_lake(solution, graded_rng):
    seed = int(graded_rng.integers(10_000))
    env = gym.make("FrozenLake-v1", is_slippery=False)
    Q, returns = solution.first_visit_mc_control(env, 400, 0.99, 0.1, seed)
    returns = np.asarray(returns, dtype=np.float64)
    assert returns.shape == (400,), "one undiscounted return per episode"
    assert returns[-100:].mean() > 0.6, "the epsilon-greedy agent should reach the goal by now"
    lake = TabularMDP.from_gymnasium(env)
    greedy = np.zeros_like(np.asarray(Q, dtype=np.float64))
    greedy[np.arange(16), np.asarray(Q).argmax(axis=1)] = 1.0
    success = reference_dp.start_value(
        lake, reference_dp.finite_horizon_evaluation(lake, greedy, 100)
    )
    assert success == pytest.approx(1.0), "the greedy policy for the learned Q reaches the goal"


@pytest.mark.graded(exercise="2.8", points=1)
def test_mc_control_waits_for_the_end_of_the_episode(solution, graded_rng):
    # With gamma = 1 and first-visit sample averages, every Q[s, a] is the mean of 0/1 returns.
    seed = int(graded_rng.integers(10_000))
    Q, returns = solution.first_visit_mc_control(gym.make("FrozenLake-v1"), 120, 1.0, 0.3, seed)
    Q = np.asarray(Q, dtype=np.float64)
    assert Q.shape == (16, 4)
    assert np.all((Q >= -1e-12) & (Q <= 1 + 1e-12)), "Q is an average of returns in [0, 1]"
    _, returns_ref = reference_mc.first_visit_mc_control(
        gym.make("FrozenLake-v1"), 120, 1.0, 0.3, seed
    )
    np.testing.assert_allclose(returns, returns_ref, err_msg="update Q only after the episode ends")


# 2.9 first-visit MC prediction ----------------------------------------------------------------
def _every_visit_prediction(env, policy, n_episodes, gamma, seed):
    """The classic mix-up, for the failure message: every visit averaged, not the first only."""
    n_states, n_actions = policy.shape
    rng = np.random.default_rng((seed, 1))
    V, N = np.zeros(n_states), np.zeros(n_states)
    for episode in range(n_episodes):
        s, _ = env.reset(seed=seed if episode == 0 else None)
        states, rewards = [], []
        while True:
            a = int(rng.choice(n_actions, p=policy[s]))
            s_next, r, terminated, truncated, _ = env.step(a)
            states.append(int(s))
            rewards.append(float(r))
            if terminated or truncated:
                break
            s = s_next
        G = 0.0
        for t in reversed(range(len(states))):
            G = rewards[t] + gamma * G
            N[states[t]] += 1
            V[states[t]] += (G - V[states[t]]) / N[states[t]]
    return V, N


def _random_policy(rng: np.random.Generator, n_states: int, n_actions: int) -> np.ndarray:
    policy = rng.dirichlet(np.ones(n_actions), size=n_states)
    return policy / policy.sum(axis=1, keepdims=True)


@pytest.mark.graded(
    exercise="2.9",
    points=2,
    checks="V and N equal the library's first-visit MC prediction, seeded, on the slippery lake",
    hint="one rng = default_rng((seed, 1)); actions int(rng.choice(A, p=policy[s])); "
    "env.reset(seed=seed) at episode 0 only; G = rewards[t] + gamma * G walking backwards",
)
def test_mc_prediction_matches_the_reference_seeded(solution, graded_rng):
    seed, gamma = int(graded_rng.integers(10_000)), float(graded_rng.uniform(0.8, 1.0))
    policy = _random_policy(graded_rng, 16, 4)
    given(f"the slippery 4x4 lake, a random stochastic policy, 200 episodes, gamma={gamma:.3f}, "
          f"seed={seed}")  # fmt: skip
    V, N = solution.first_visit_mc_prediction(gym.make("FrozenLake-v1"), policy, 200, gamma, seed)
    V_ref, N_ref = reference_mc.first_visit_mc_prediction(
        gym.make("FrozenLake-v1"), policy, 200, gamma, seed
    )
    V_every, N_every = _every_visit_prediction(gym.make("FrozenLake-v1"), policy, 200, gamma, seed)
    if np.array_equal(np.asarray(N), N_every) and not np.array_equal(N_every, N_ref):
        raise AssertionError(
            failure(
                "N counts every visit of a state",
                "first-visit MC: only the first time t that s appears in an episode counts",
            )
        )
    assert np.array_equal(np.asarray(N), N_ref), failure(
        f"the visit counts differ (got {np.asarray(N)[:4]}..., expected {N_ref[:4]}...)",
        "the same random draws as the recipe? the env seeded at episode 0 only?",
    )
    assert np.allclose(np.asarray(V), V_ref, atol=1e-9), failure(
        "V differs while the counts agree",
        "G = rewards[t] + gamma * G from the end; V[s] += (G - V[s]) / N[s] at first visits",
    )


@pytest.mark.graded(
    exercise="2.9",
    points=1,
    checks="on a random MDP with 3000 episodes, V is within sampling error of the exact v_pi",
    hint="the return that follows the first visit at time t is R_{t+1} + gamma R_{t+2} + ...: "
    "rewards[t] is the reward of the step taken at t",
)
def test_mc_prediction_converges_to_the_exact_values(solution, graded_rng):
    mdp = random_mdp(graded_rng)
    policy = _random_policy(graded_rng, mdp.n_states, mdp.n_actions)
    gamma, seed = float(graded_rng.uniform(0.6, 0.95)), int(graded_rng.integers(10_000))
    given(f"a random {mdp.n_states}-state MDP, a random policy, 3000 episodes, gamma={gamma:.2f}")
    V, N = solution.first_visit_mc_prediction(TabularEnv(mdp), policy, 3000, gamma, seed)
    exact = reference_evaluation(mdp, policy, gamma)
    visited = np.asarray(N) >= 300
    error = np.abs(np.asarray(V) - exact)[visited]
    tolerance = 6 * (np.abs(mdp.R).max() / (1 - gamma)) / np.sqrt(np.asarray(N)[visited])
    assert visited.any() and (error < tolerance).all(), failure(
        f"|V - v_pi| up to {error.max():.3f} on states visited >= 300 times",
        "average the first-visit returns (not the rewards); discount each later reward once more",
    )


@pytest.mark.graded(
    exercise="2.9",
    points=1,
    checks="on the calm lake: a policy stuck at the wall is counted once per episode, a walk "
    "into the hole never counts the hole",
    hint="count only the first visit of a state per episode; the state after the last step "
    "(terminal, or cut by the time limit) is not visited: record s before each step",
)
def test_mc_prediction_counts_first_visits_and_never_the_final_state(solution, graded_rng):
    n_episodes, seed = int(graded_rng.integers(3, 8)), int(graded_rng.integers(10_000))
    left, down = np.zeros((16, 4)), np.zeros((16, 4))
    left[:, 0], down[:, 1] = 1.0, 1.0
    given(f"the calm 4x4 lake, 'always left' (stuck at state 0 for 100 steps), {n_episodes} "
          "episodes")  # fmt: skip
    calm = lambda: gym.make("FrozenLake-v1", is_slippery=False)  # noqa: E731
    V, N = solution.first_visit_mc_prediction(calm(), left, n_episodes, 0.9, seed)
    N = np.asarray(N)
    assert N[0] == n_episodes and N[1:].sum() == 0, failure(
        f"N = {N.tolist()}: expected N[0] = {n_episodes} (one first visit per episode), 0 elsewhere",
        "first visits only: a state visited 100 times in one episode counts once",
    )
    given(f"the calm 4x4 lake, 'always down' (0 -> 4 -> 8 -> hole 12), {n_episodes} episodes")
    V, N = solution.first_visit_mc_prediction(calm(), down, n_episodes, 0.9, seed)
    want = np.zeros(16)
    want[[0, 4, 8]] = n_episodes
    assert np.array_equal(np.asarray(N), want), failure(
        f"N = {np.asarray(N).tolist()}: states 0, 4, 8 are visited, the hole 12 is where the "
        "episode ended",
        "record the state you act from; the terminal state is never acted from",
    )
    assert np.allclose(np.asarray(V), 0.0), "no reward on this path: every estimate is 0"
