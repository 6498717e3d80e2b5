"""Graded tests of module 00 (tour): exercise 0.1, ``estimate_success_rate``."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.envs.toy_text.frozen_lake import generate_random_map

from rlhf_edu.envs.evaluation import estimate_success_rate as reference_estimate


def table_policy(actions: np.ndarray):
    """A deterministic policy from a table ``actions[state]``."""
    return lambda observation: int(actions[observation])


def seeded_random_policy(n_actions: int, seed: int):
    """Uniformly random actions from the policy's own generator (a fresh one per call)."""
    rng = np.random.default_rng(seed)
    return lambda observation: int(rng.integers(n_actions))


def random_frozen_lake(rng: np.random.Generator) -> gym.Env:
    size = int(rng.integers(3, 5))
    desc = generate_random_map(size=size, p=0.9, seed=int(rng.integers(2**31)))
    return gym.make("FrozenLake-v1", desc=desc, is_slippery=bool(rng.integers(4) > 0))


@pytest.mark.graded(exercise="0.1", points=1)
def test_success_rate_matches_reference_on_random_lakes_policies_and_seeds(solution, graded_rng):
    informative = 0  # cases whose answer is strictly between 0 and 1 (a wrong loop shows there)
    for _ in range(40):
        env = random_frozen_lake(graded_rng)
        n_episodes = int(graded_rng.integers(5, 40))
        seed = int(graded_rng.integers(0, 10_000))
        if graded_rng.random() < 0.5:
            actions = graded_rng.integers(0, 4, size=env.observation_space.n)
            make_policy = lambda actions=actions: table_policy(actions)  # noqa: E731
        else:
            policy_seed = int(graded_rng.integers(2**31))
            make_policy = lambda s=policy_seed: seeded_random_policy(4, s)  # noqa: E731
        want = reference_estimate(env, make_policy(), n_episodes, seed)
        got = solution.estimate_success_rate(env, make_policy(), n_episodes, seed)
        assert got == pytest.approx(want, abs=1e-12), (
            f"lake {env.unwrapped.desc.astype(str).tolist()}, n_episodes={n_episodes}, "
            f"seed={seed}: got {got}, expected {want}"
        )
        informative += 0 < want < 1
        if informative == 4:
            break
    assert informative >= 1


@pytest.mark.graded(exercise="0.1", points=1)
def test_success_rate_is_one_for_a_sure_path_zero_for_a_stuck_policy_and_checks_n(
    solution, graded_rng
):
    calm = gym.make("FrozenLake-v1", map_name="4x4", is_slippery=False)
    plan = {0: 2, 1: 2, 2: 1, 6: 1, 10: 1, 14: 2}  # 0 -> 1 -> 2 -> 6 -> 10 -> 14 -> 15 (goal)
    n_episodes = int(graded_rng.integers(1, 20))
    seed = int(graded_rng.integers(0, 10_000))
    sure = solution.estimate_success_rate(calm, lambda s: plan.get(s, 0), n_episodes, seed)
    assert sure == pytest.approx(1.0), "a path that always reaches the goal has success rate 1"
    stuck = solution.estimate_success_rate(calm, lambda s: 0, n_episodes, seed)
    assert stuck == pytest.approx(0.0), "walking into the wall until the time limit never succeeds"
    # A fraction of n episodes: a multiple of 1/n between 0 and 1.
    slippery = gym.make("FrozenLake-v1", map_name="4x4", is_slippery=True)
    rate = solution.estimate_success_rate(slippery, lambda s: plan.get(s, 0), 30, seed)
    assert 0.0 <= rate <= 1.0 and abs(rate * 30 - round(rate * 30)) < 1e-9
    for bad in (0, -3):
        with pytest.raises(ValueError):
            solution.estimate_success_rate(calm, lambda s: 0, bad, seed)
