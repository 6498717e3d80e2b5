"""Statistical checks: the default PPO and DQN configs solve CartPole-v1 (slow, seeded)."""

from __future__ import annotations

import pytest

from rlhf_edu.neural import dqn, evaluate, ppo


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("module", [ppo, dqn], ids=["ppo", "dqn"])
def test_default_config_solves_cartpole_greedy_mean_at_least_475(module, seed):
    agent = module.train("CartPole-v1", seed=seed).agent
    assert evaluate(agent, "CartPole-v1", n_episodes=20, seed=1000) >= 475
