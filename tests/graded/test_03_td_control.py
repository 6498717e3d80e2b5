"""Graded tests of module 03 (TD control): exercises 3.1-3.9.

The episode and training-loop tests run the student's code and the reference (``rlhf_edu.tabular.td``)
on the same seeds: the episode contract (``env.reset(seed=seed)``; every action from
``epsilon_greedy(Q[s], epsilon, agent_rng)``, two uniforms, nothing else drawn) makes the two runs
the same random numbers, so they must agree number for number (to 1e-9 where the order of a sum
may differ). Envs are ``FastEnv`` (gymnasium's toy-text dynamics, same random numbers, faster).
"""

import gymnasium as gym
import numpy as np
import pytest

import rlhf_edu.envs  # noqa: F401  (registers rlhf_edu/... ids)
from rlhf_edu.core.exploration import epsilon_greedy, epsilon_greedy_probabilities
from rlhf_edu.envs import TabularMDP
from rlhf_edu.grading.selfcheck import failure, given
from rlhf_edu.tabular import td as reference
from rlhf_edu.tabular.fast import FastEnv

EPISODE_CONTRACT = (
    "episode(env, Q, alpha, gamma, epsilon, agent_rng, seed) resets with env.reset(seed=seed), "
    "chooses every action with epsilon_greedy(Q[s], epsilon, agent_rng) and draws nothing else "
    "from agent_rng"
)


def random_case(rng: np.random.Generator):
    n_states, n_actions = int(rng.integers(2, 6)), int(rng.integers(2, 5))
    Q = rng.normal(size=(n_states, n_actions))
    s, s_next = int(rng.integers(n_states)), int(rng.integers(n_states))
    a, a_next = int(rng.integers(n_actions)), int(rng.integers(n_actions))
    r = float(rng.normal())
    alpha, gamma = float(rng.uniform(0.05, 1.0)), float(rng.uniform(0.0, 1.0))
    return Q, s, a, r, s_next, a_next, alpha, gamma


def terminal_states(env_id: str, **kwargs) -> np.ndarray:
    return TabularMDP.from_gymnasium(gym.make(env_id, **kwargs)).terminal


def compare_episodes(
    student, ref, env_id, Q0, alpha, gamma, epsilon, seeds, *, what, rtol=0.0, **make_kwargs
):
    """Run ``student`` and ``ref`` episode by episode from Q0 on the same seeds; assert equal."""
    env = FastEnv(gym.make(env_id, **make_kwargs))
    Q, Q_ref = Q0.copy(), Q0.copy()
    agent_rng, agent_rng_ref = np.random.default_rng((7, 1)), np.random.default_rng((7, 1))
    for i, seed in enumerate(seeds):
        got = student(env, Q, alpha, gamma, epsilon, agent_rng, seed=int(seed))
        want = ref(env, Q_ref, alpha, gamma, epsilon, agent_rng_ref, seed=int(seed))
        assert isinstance(got, (tuple, list)) and len(got) == 2, (
            f"{what}: return (episode_return, n_steps), got {got!r}"
        )
        episode_return, n_steps = got
        where = f"{what}, {env_id}, episode {i} (seed {seed})"
        assert int(n_steps) == want[1], (
            f"{where}: {n_steps} steps, expected {want[1]}. Stop after a step that terminated or "
            f"was truncated, count every step, and keep the random draws of the contract: "
            f"{EPISODE_CONTRACT}."
        )
        assert float(episode_return) == pytest.approx(want[0], abs=1e-9), (
            f"{where}: return {episode_return}, expected {want[0]} (the undiscounted sum "
            "R_1 + ... + R_T of the rewards env.step returned)"
        )
        assert agent_rng.bit_generator.state == agent_rng_ref.bit_generator.state, (
            f"{where}: agent_rng drew a different number of random numbers than the reference "
            f"({EPISODE_CONTRACT})"
        )
        np.testing.assert_allclose(
            Q, Q_ref, rtol=rtol, atol=1e-9, err_msg=f"{where}: Q differs from the reference"
        )
    return Q, Q_ref


# ------------------------------------------------------------------------------- 3.1, 3.2
@pytest.mark.graded(exercise="3.1", points=2)
def test_sarsa_update_matches_reference_terminal_or_not(solution, graded_rng):
    for i in range(30):
        Q, s, a, r, s_next, a_next, alpha, gamma = random_case(graded_rng)
        terminated = i % 3 == 0
        Q_ref = Q.copy()
        solution.sarsa_update(Q, s, a, r, s_next, a_next, terminated, alpha, gamma)
        reference.sarsa_update(Q_ref, s, a, r, s_next, a_next, terminated, alpha, gamma)
        np.testing.assert_allclose(Q, Q_ref, atol=1e-12)


@pytest.mark.graded(exercise="3.2", points=1)
def test_q_learning_update_does_not_bootstrap_from_terminal_states(solution, graded_rng):
    for _ in range(10):
        Q, s, a, r, s_next, _, alpha, gamma = random_case(graded_rng)
        Q[s_next] += 100.0  # a terminal row far from zero: bootstrapping from it is visible
        before = Q[s, a]  # read after the shift, so this holds when s == s_next too
        solution.q_learning_update(Q, s, a, r, s_next, True, alpha, gamma)
        assert Q[s, a] == pytest.approx(before + alpha * (r - before)), (
            "after a terminating step the target is r alone: bootstraps from a terminal state?"
        )


@pytest.mark.graded(exercise="3.2", points=2)
def test_q_learning_update_matches_reference(solution, graded_rng):
    for i in range(30):
        Q, s, a, r, s_next, _, alpha, gamma = random_case(graded_rng)
        terminated = i % 4 == 0
        Q_ref = Q.copy()
        solution.q_learning_update(Q, s, a, r, s_next, terminated, alpha, gamma)
        reference.q_learning_update(Q_ref, s, a, r, s_next, terminated, alpha, gamma)
        np.testing.assert_allclose(Q, Q_ref, atol=1e-12)


# ------------------------------------------------------------------------- 3.3, 3.4 episodes
EPISODES = {
    "q_learning_episode": reference.q_learning_episode,
    "sarsa_episode": reference.sarsa_episode,
}


def _hyper(rng):
    return float(rng.uniform(0.1, 0.9)), float(rng.uniform(0.05, 0.3))  # alpha, epsilon


def _matches_from_zero(solution, graded_rng, name):
    alpha, epsilon = _hyper(graded_rng)
    seeds = graded_rng.integers(0, 10_000, size=8)
    compare_episodes(getattr(solution, name), EPISODES[name], "CliffWalking-v1",
                     np.zeros((48, 4)), alpha, 1.0, epsilon, seeds, what=name)  # fmt: skip
    seeds = graded_rng.integers(0, 10_000, size=40)
    compare_episodes(getattr(solution, name), EPISODES[name], "FrozenLake-v1",
                     np.zeros((16, 4)), alpha, 0.95, epsilon, seeds, what=name)  # fmt: skip


def _no_bootstrap_through_terminal(solution, graded_rng, name):
    alpha, epsilon = _hyper(graded_rng)
    terminal = terminal_states("FrozenLake-v1")
    Q0 = graded_rng.uniform(0.0, 0.01, size=(16, 4))
    Q0[terminal] = 100.0  # never acted from, so never updated: visible if bootstrapped from
    seeds = graded_rng.integers(0, 10_000, size=30)
    student = getattr(solution, name)
    env = FastEnv(gym.make("FrozenLake-v1"))
    Q, agent_rng = Q0.copy(), np.random.default_rng((3, 1))
    for seed in seeds:
        student(env, Q, alpha, 0.9, epsilon, agent_rng, seed=int(seed))
        assert Q[~terminal].max() < 50.0, (
            f"{name}: Q of a live state grew toward the terminal states' value 100: bootstraps "
            "from a terminal state? After a step that terminated the target is r alone."
        )
    compare_episodes(student, EPISODES[name], "FrozenLake-v1", Q0, alpha, 0.9, epsilon, seeds,
                     what=name)  # fmt: skip


def _bootstraps_through_truncation(solution, graded_rng, name):
    alpha, epsilon = _hyper(graded_rng)
    Q0 = graded_rng.uniform(0.0, 1.0, size=(16, 4))  # truncation only matters if Q is not 0
    seeds = graded_rng.integers(0, 10_000, size=40)
    try:
        compare_episodes(getattr(solution, name), EPISODES[name], "FrozenLake-v1", Q0, alpha,
                         0.9, epsilon, seeds, what=name, max_episode_steps=3)  # fmt: skip
    except AssertionError as error:
        raise AssertionError(
            f"{name} with a 3-step time limit: a truncated step is not a terminal one: its target "
            f"still bootstraps from the next state, and then the episode stops. {error}"
        ) from None


@pytest.mark.graded(exercise="3.3", points=2)
def test_q_learning_episode_matches_reference(solution, graded_rng):
    _matches_from_zero(solution, graded_rng, "q_learning_episode")


@pytest.mark.graded(exercise="3.3", points=1)
def test_q_learning_episode_never_bootstraps_through_a_terminal_state(solution, graded_rng):
    _no_bootstrap_through_terminal(solution, graded_rng, "q_learning_episode")


@pytest.mark.graded(exercise="3.3", points=1)
def test_q_learning_episode_bootstraps_through_a_truncation(solution, graded_rng):
    _bootstraps_through_truncation(solution, graded_rng, "q_learning_episode")


@pytest.mark.graded(exercise="3.4", points=2)
def test_sarsa_episode_matches_reference(solution, graded_rng):
    _matches_from_zero(solution, graded_rng, "sarsa_episode")


@pytest.mark.graded(exercise="3.4", points=1)
def test_sarsa_episode_draws_no_action_after_termination_nor_bootstraps_from_it(
    solution, graded_rng
):
    _no_bootstrap_through_terminal(solution, graded_rng, "sarsa_episode")


@pytest.mark.graded(exercise="3.4", points=1)
def test_sarsa_episode_bootstraps_through_a_truncation(solution, graded_rng):
    _bootstraps_through_truncation(solution, graded_rng, "sarsa_episode")


# ----------------------------------------------------------------------- 3.5 training loop
def _unpack(result):
    if isinstance(result, dict):
        return result["Q"], result["episode_returns"], result["episode_lengths"]
    if isinstance(result, (tuple, list)):
        return result[0], result[1], result[2]
    return result.Q, result.episode_returns, result.episode_lengths


def _reseeding_every_episode(env, episode, n_episodes, alpha, gamma, epsilon, seed):
    """The classic mistake, for the failure message: the env re-seeded at every reset."""
    agent_rng = np.random.default_rng((seed, 1))
    Q = np.zeros((env.observation_space.n, env.action_space.n))
    lengths = [
        episode(env, Q, alpha, gamma, epsilon, agent_rng, seed=seed)[1] for _ in range(n_episodes)
    ]
    return Q, lengths


def _check_training(solution, env_id, episode, library, n_episodes, alpha, gamma, epsilon, seed):
    env = FastEnv(gym.make(env_id))
    Q, returns, lengths = _unpack(
        solution.td_control(env, episode, n_episodes, alpha, gamma, epsilon, seed)
    )
    want = library(env_id, n_episodes, alpha, gamma, epsilon, seed=seed)
    where = f"td_control on {env_id}, {n_episodes} episodes, seed {seed}"
    assert len(lengths) == n_episodes, (
        f"{where}: {len(lengths)} episode lengths, expected {n_episodes}"
    )
    if not np.array_equal(np.asarray(lengths), want.episode_lengths):
        _, reseeded = _reseeding_every_episode(
            env, episode, n_episodes, alpha, gamma, epsilon, seed
        )
        if np.array_equal(np.asarray(lengths), reseeded):
            raise AssertionError(
                f"{where}: the env is re-seeded at every reset, so every episode replays the same "
                "luck: seed only episode 0 (seed=seed), then seed=None"
            )
        raise AssertionError(
            f"{where}: episode lengths {np.asarray(lengths)[:5]}... differ from the reference's "
            f"{want.episode_lengths[:5]}...: Q must start at zeros; use one "
            "agent_rng = np.random.default_rng((seed, 1)) for the whole run (not one per "
            "episode); seed the env at episode 0 only"
        )
    np.testing.assert_array_equal(np.asarray(returns, dtype=float), want.episode_returns,
                                  err_msg=f"{where}: episode returns")  # fmt: skip
    np.testing.assert_array_equal(np.asarray(Q), want.Q, err_msg=f"{where}: Q")


@pytest.mark.graded(exercise="3.5", points=3)
def test_td_control_with_q_learning_episodes_equals_library_q_learning(solution, graded_rng):
    seed, alpha = int(graded_rng.integers(10_000)), float(graded_rng.uniform(0.2, 0.8))
    _check_training(solution, "CliffWalking-v1", reference.q_learning_episode, reference.q_learning,
                    30, alpha, 1.0, 0.1, seed)  # fmt: skip
    _check_training(solution, "FrozenLake-v1", reference.q_learning_episode, reference.q_learning,
                    300, alpha, 0.99, 0.2, seed)  # fmt: skip


@pytest.mark.graded(exercise="3.5", points=1)
def test_td_control_seeds_the_env_once_and_uses_one_agent_generator(solution, graded_rng):
    seed = int(graded_rng.integers(10_000))
    _check_training(solution, "FrozenLake-v1", reference.q_learning_episode, reference.q_learning,
                    200, 0.5, 0.95, 0.5, seed)  # fmt: skip


@pytest.mark.graded(exercise="3.5", points=1)
def test_td_control_with_sarsa_episodes_equals_library_sarsa(solution, graded_rng):
    seed = int(graded_rng.integers(10_000))
    _check_training(solution, "rlhf_edu/WindyGridworld-v0", reference.sarsa_episode,
                    reference.sarsa, 15, 0.5, 1.0, 0.1, seed)  # fmt: skip


# ----------------------------------------------------------------------------- 3.6 update
@pytest.mark.graded(exercise="3.6", points=3)
def test_expected_sarsa_update_matches_reference_including_ties(solution, graded_rng):
    for i in range(30):
        Q, s, a, r, s_next, _, alpha, gamma = random_case(graded_rng)
        if i % 2:
            Q[s_next, :2] = Q[s_next].max() + 0.5  # two greedy actions share 1 - epsilon
        epsilon = float(graded_rng.uniform(0, 1))
        terminated = i % 5 == 0
        Q_ref = Q.copy()
        solution.expected_sarsa_update(Q, s, a, r, s_next, terminated, alpha, gamma, epsilon)
        reference.expected_sarsa_update(Q_ref, s, a, r, s_next, terminated, alpha, gamma, epsilon)
        np.testing.assert_allclose(Q, Q_ref, atol=1e-10)


# ------------------------------------------------------------------------ 3.7 find the bug
def _expected_sarsa_episode_buggy(env, Q, alpha, gamma, epsilon, agent_rng, seed=None):
    """The notebook's buggy episode (bootstraps through terminal states), to name the bug."""
    s, _ = env.reset(seed=seed)
    episode_return, n_steps = 0.0, 0
    while True:
        a = epsilon_greedy(Q[s], epsilon, agent_rng)
        s_next, r, terminated, truncated, _ = env.step(a)
        n_steps += 1
        td_target = r + gamma * np.dot(epsilon_greedy_probabilities(Q[s_next], epsilon), Q[s_next])
        Q[s, a] += alpha * (td_target - Q[s, a])
        episode_return += r
        if terminated or truncated:
            return episode_return, n_steps
        s = s_next


@pytest.mark.graded(exercise="3.7", points=1)
def test_expected_sarsa_episode_fixed_does_not_bootstrap_through_terminal_states(
    solution, graded_rng
):
    # an optimistic start, Q ~ 1 (no ties), on slippery FrozenLake: the terminal rows stay ~1
    Q0 = 1.0 + graded_rng.uniform(0.0, 0.01, size=(16, 4))
    seeds = graded_rng.integers(0, 10_000, size=60)
    env = FastEnv(gym.make("FrozenLake-v1"))
    Q, Q_bug = Q0.copy(), Q0.copy()
    rng, rng_bug = np.random.default_rng((5, 1)), np.random.default_rng((5, 1))
    for seed in seeds:
        solution.expected_sarsa_episode(env, Q, 0.2, 0.99, 0.1, rng, seed=int(seed))
        _expected_sarsa_episode_buggy(env, Q_bug, 0.2, 0.99, 0.1, rng_bug, seed=int(seed))
    assert not np.allclose(Q, Q_bug, atol=1e-6), (
        "expected_sarsa_episode still does what the buggy version does: it bootstraps from "
        "Q[s_next] after a step that terminated (the target must be r alone then)"
    )
    compare_episodes(solution.expected_sarsa_episode, reference.expected_sarsa_episode,
                     "FrozenLake-v1", Q0, 0.2, 0.99, 0.1, seeds, what="expected_sarsa_episode")  # fmt: skip


@pytest.mark.graded(exercise="3.7", points=1)
def test_expected_sarsa_episode_fixed_matches_reference_with_truncations(solution, graded_rng):
    Q0 = graded_rng.normal(scale=0.1, size=(64, 4))  # no ties; terminal rows not 0
    seeds = graded_rng.integers(0, 10_000, size=40)
    compare_episodes(solution.expected_sarsa_episode, reference.expected_sarsa_episode,
                     "FrozenLake8x8-v1", Q0, 0.5, 0.99, 0.2, seeds, what="expected_sarsa_episode",
                     max_episode_steps=20)  # fmt: skip


# ------------------------------------------------------------------------------ 3.8 Double Q
@pytest.mark.graded(exercise="3.8", points=3)
def test_double_q_update_matches_reference_for_both_tables(solution, graded_rng):
    for i in range(30):
        Q1, s, a, r, s_next, _, alpha, gamma = random_case(graded_rng)
        Q2 = graded_rng.normal(size=Q1.shape)
        update_first, terminated = bool(i % 2), i % 5 == 0
        Q1_ref, Q2_ref = Q1.copy(), Q2.copy()
        solution.double_q_update(Q1, Q2, s, a, r, s_next, terminated, alpha, gamma, update_first)
        reference.double_q_update(
            Q1_ref, Q2_ref, s, a, r, s_next, terminated, alpha, gamma, update_first
        )
        np.testing.assert_allclose(Q1, Q1_ref, atol=1e-12)
        np.testing.assert_allclose(Q2, Q2_ref, atol=1e-12)


# ------------------------------------------------------------------ 3.9 Double Q training loop
def _single_table_q_learning_lengths(env, n_episodes, alpha, gamma, epsilon, seed):
    """A classic mix-up, for the failure message: the loop runs plain Q-learning on one table."""
    return reference.q_learning(env, n_episodes, alpha, gamma, epsilon, seed, fast=False)


@pytest.mark.graded(
    exercise="3.9",
    points=3,
    checks="the Double Q loop equals the library's double_q_learning, number for number",
    hint="per step: a = epsilon_greedy(Q1[s] + Q2[s], ...), env.step, then the coin "
    "agent_rng.random() < 0.5, then double_q_update; one agent_rng = default_rng((seed, 1)); "
    "env seeded at episode 0 only; return tabular_result((Q1 + Q2) / 2, returns, lengths)",
)
def test_double_q_control_equals_library_double_q_learning(solution, graded_rng):
    for env_id, n_episodes, gamma, epsilon in (
        ("CliffWalking-v1", 40, 1.0, 0.1),
        ("FrozenLake-v1", 300, 0.95, 0.3),
    ):
        seed, alpha = int(graded_rng.integers(10_000)), float(graded_rng.uniform(0.2, 0.8))
        given(f"{env_id}, {n_episodes} episodes, alpha={alpha:.3f}, gamma={gamma}, "
              f"epsilon={epsilon}, seed={seed}")  # fmt: skip
        Q, returns, lengths = _unpack(
            solution.double_q_control(
                FastEnv(gym.make(env_id)), n_episodes, alpha, gamma, epsilon, seed
            )  # fmt: skip
        )
        want = reference.double_q_learning(env_id, n_episodes, alpha, gamma, epsilon, seed)
        assert len(lengths) == n_episodes, f"{len(lengths)} episode lengths, expected {n_episodes}"
        if not np.array_equal(np.asarray(lengths), want.episode_lengths):
            plain = _single_table_q_learning_lengths(
                FastEnv(gym.make(env_id)), n_episodes, alpha, gamma, epsilon, seed
            )
            hint = (
                "these are plain Q-learning's episodes: act on Q1 + Q2 and update one table "
                "picked by a coin per step"
                if np.array_equal(np.asarray(lengths), plain.episode_lengths)
                else "the random draws differ from the contract: one epsilon_greedy on "
                "Q1[s] + Q2[s], then one agent_rng.random() per step, nothing else; the env "
                "seeded at episode 0 only"
            )
            raise AssertionError(
                failure(
                    f"episode lengths {np.asarray(lengths)[:5]}... differ from the reference's "
                    f"{want.episode_lengths[:5]}...",
                    hint,
                )
            )
        assert np.array_equal(np.asarray(returns, dtype=float), want.episode_returns), (
            "the episode returns differ: add every reward R_{t+1} of the episode, undiscounted"
        )
        assert np.allclose(np.asarray(Q), want.Q, atol=1e-12), failure(
            "the returned Q differs", "return the average of the two tables, (Q1 + Q2) / 2"
        )


@pytest.mark.graded(
    exercise="3.9",
    points=1,
    checks="the loop learns the cliff: the last 50 episodes' online return is above -60",
    hint="terminal steps use r alone (double_q_update with terminated); act on Q1 + Q2",
)
def test_double_q_control_learns_the_cliff(solution, graded_rng):
    seed = int(graded_rng.integers(10_000))
    given(f"CliffWalking-v1, 300 episodes, alpha=0.5, gamma=1, epsilon=0.1, seed={seed}")
    _, returns, lengths = _unpack(
        solution.double_q_control(FastEnv(gym.make("CliffWalking-v1")), 300, 0.5, 1.0, 0.1, seed)
    )
    late = float(np.mean(np.asarray(returns)[-50:]))
    assert late > -60, failure(
        f"the mean return of episodes 250-300 is {late:.1f}: the agent has not learned a path",
        "is Q updated in place (double_q_update writes into Q1 or Q2)?",
    )
