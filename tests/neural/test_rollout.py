"""Episode ends in vector-env rollouts: truncation bootstraps from V(final obs), termination not."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from neural_toy_envs import CounterEnv

from rlhf_edu.neural import compute_gae
from rlhf_edu.neural.rollout import (
    EpisodeStats,
    bootstrap_truncated,
    collect_rollout,
    make_vec_env,
)


class KnownValues:
    """A stand-in policy/critic with V(s) = 10 * s and uniform action probabilities."""

    def logits(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.zeros(obs.shape[0], 2)

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return 10.0 * obs[:, 0]


def run(make_env, n_steps=4, gamma=0.5):
    envs = make_vec_env(make_env, 1, seed=0)
    obs, _ = envs.reset(seed=0)
    rollout, _ = collect_rollout(envs, KnownValues(), obs, n_steps, gamma, EpisodeStats(1))
    envs.close()
    return rollout


def test_truncated_step_bootstraps_from_the_true_final_observation_not_the_reset_one():
    rollout = run(lambda: gym.make("rlhf_edu_test/Counter-v0"))  # truncated after 3 steps
    # step 2 reaches obs 3 and is truncated: r + gamma * V(3) = 1 + 0.5 * 30
    assert rollout.rewards[:, 0].tolist() == [1.0, 1.0, 16.0, 1.0]
    assert rollout.dones[:, 0].tolist() == [0.0, 0.0, 1.0, 0.0]
    # the step after the end starts from the reset observation 0
    assert rollout.obs[3, 0, 0].item() == 0.0
    assert rollout.values[3, 0].item() == 0.0
    assert rollout.last_value.tolist() == [10.0]


def test_terminated_step_does_not_bootstrap():
    rollout = run(lambda: gym.wrappers.TimeLimit(CounterEnv(terminate_at=3), 10))
    assert rollout.rewards[:, 0].tolist() == [1.0, 1.0, 1.0, 1.0]
    assert rollout.dones[:, 0].tolist() == [0.0, 0.0, 1.0, 0.0]


def test_gae_targets_on_a_truncated_episode_equal_the_known_values():
    gamma = 0.5
    rollout = run(lambda: gym.make("rlhf_edu_test/Counter-v0"), gamma=gamma)
    _, returns = compute_gae(
        rollout.rewards, rollout.values, rollout.dones, rollout.last_value, gamma, 1.0
    )
    # R_2 = 1 + .5 * V(3) = 16; R_1 = 1 + .5 * 16; R_0 = 1 + .5 * 9; R_3 = 1 + .5 * V(1)
    assert returns[:, 0].tolist() == [5.5, 9.0, 16.0, 6.0]


def test_episode_stats_report_undiscounted_returns_without_the_bootstrap():
    rollout = run(lambda: gym.make("rlhf_edu_test/Counter-v0"), n_steps=7)
    assert rollout.episodes == [(3.0, 3), (3.0, 3)]


def test_bootstrap_truncated_ignores_envs_that_terminated():
    rewards = torch.ones(3)
    terminated = torch.tensor([True, False, False])
    truncated = torch.tensor([True, True, False])
    got = bootstrap_truncated(rewards, terminated, truncated, torch.full((3,), 4.0), 0.5)
    assert got.tolist() == [1.0, 3.0, 1.0]


def test_make_vec_env_rejects_n_envs_below_one():
    with pytest.raises(ValueError, match="n_envs"):
        make_vec_env("CartPole-v1", 0, seed=0)


def test_vector_env_seeds_make_rollouts_repeatable():
    def first_obs():
        envs = make_vec_env("CartPole-v1", 2, seed=3)
        obs, _ = envs.reset(seed=3)
        envs.close()
        return obs

    np.testing.assert_array_equal(first_obs(), first_obs())


def test_rollout_logprobs_and_values_are_those_of_the_collecting_network():
    from rlhf_edu.neural.networks import ActorCritic

    torch.manual_seed(0)
    net = ActorCritic(4, 2)
    envs = make_vec_env("CartPole-v1", 3, seed=0)
    obs, _ = envs.reset(seed=0)
    rollout, next_obs = collect_rollout(envs, net, obs, 5, 0.99, EpisodeStats(3))
    envs.close()
    with torch.no_grad():
        log_pi = torch.log_softmax(net.logits(rollout.obs), dim=-1)  # (T, N, n_actions)
        expected_logprobs = log_pi.gather(-1, rollout.actions[..., None]).squeeze(-1)
        torch.testing.assert_close(rollout.logprobs, expected_logprobs)
        torch.testing.assert_close(rollout.values, net.value(rollout.obs))
        torch.testing.assert_close(
            rollout.last_value, net.value(torch.as_tensor(next_obs, dtype=torch.float32))
        )
    assert rollout.obs.shape == (5, 3, 4) and rollout.actions.dtype == torch.long
