"""rlhf_edu.envs.episodes: the tour's reference functions (rollouts, returns, lookahead, greedy)."""

import gymnasium as gym
import numpy as np
import pytest

from rlhf_edu.envs.episodes import (
    greedy_actions,
    lookahead_values,
    returns_from_rewards,
    rollout_episode,
)

DOWN, RIGHT = 1, 2


@pytest.fixture
def calm():
    return gym.make("FrozenLake-v1", map_name="4x4", is_slippery=False)


def test_rollout_keeps_the_final_state_and_puts_each_reward_after_its_action(calm):
    plan = {0: RIGHT, 1: RIGHT, 2: DOWN, 6: DOWN, 10: DOWN, 14: RIGHT}
    states, actions, rewards = rollout_episode(calm, lambda s: plan[s], seed=0)
    assert states == [0, 1, 2, 6, 10, 14, 15]
    assert actions == [2, 2, 1, 1, 1, 2]
    assert rewards == [0.0, 0.0, 0.0, 0.0, 0.0, 1.0]  # rewards[t] = R_{t+1}


def test_rollout_ends_in_a_hole_and_at_the_time_limit(calm):
    assert rollout_episode(calm, lambda s: DOWN, seed=1) == ([0, 4, 8, 12], [1, 1, 1], [0.0] * 3)
    limited = gym.make("FrozenLake-v1", map_name="4x4", is_slippery=False, max_episode_steps=7)
    states, actions, _ = rollout_episode(limited, lambda s: 0, seed=1)
    assert states == [0] * 8 and len(actions) == 7


def test_rollout_is_repeatable_with_its_seed():
    slippery = gym.make("FrozenLake-v1", map_name="4x4", is_slippery=True)
    assert rollout_episode(slippery, lambda s: 2, 5) == rollout_episode(slippery, lambda s: 2, 5)
    with pytest.raises(ValueError, match="seed"):
        rollout_episode(slippery, lambda s: 2, -1)


def test_returns_follow_the_backward_recursion_and_check_gamma():
    assert returns_from_rewards([0.0, 0.0, 1.0], 0.9) == pytest.approx([0.81, 0.9, 1.0])
    assert returns_from_rewards([1.0, 2.0, 3.0], 1.0) == pytest.approx([6.0, 5.0, 3.0])
    assert returns_from_rewards([1.0, 2.0], 0.0) == pytest.approx([1.0, 2.0])
    assert returns_from_rewards([], 0.5).shape == (0,)
    with pytest.raises(ValueError, match="gamma"):
        returns_from_rewards([1.0], 1.5)
    with pytest.raises(ValueError, match="rewards"):
        returns_from_rewards([[1.0]], 0.5)


def test_lookahead_never_bootstraps_from_a_terminal_outcome(calm):
    P = calm.unwrapped.P
    V = np.full(16, 100.0)
    Q = lookahead_values(P, V, 0.9)
    assert Q.shape == (16, 4)
    assert Q[14, RIGHT] == pytest.approx(1.0)  # the goal: its reward, no value after it
    assert Q[1, DOWN] == pytest.approx(0.0)  # a hole
    assert Q[0, RIGHT] == pytest.approx(90.0)  # an ordinary step bootstraps
    with pytest.raises(ValueError, match="V must have shape"):
        lookahead_values(P, np.zeros(3), 0.9)


def test_lookahead_weights_the_outcomes_by_their_probabilities():
    P = {0: {0: [(0.25, 1, 1.0, False), (0.75, 0, 0.0, True)]}, 1: {0: [(1.0, 1, 0.0, True)]}}
    Q = lookahead_values(P, np.array([5.0, 2.0]), 0.5)
    assert Q == pytest.approx(np.array([[0.25 * (1.0 + 0.5 * 2.0)], [0.0]]))


def test_greedy_actions_take_the_lowest_of_tied_actions():
    Q = np.array([[0.0, 1.0, 1.0], [2.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    got = greedy_actions(Q)
    assert got.tolist() == [1, 0, 0] and got.dtype == np.int64
    with pytest.raises(ValueError, match="Q must have shape"):
        greedy_actions(np.zeros(3))
