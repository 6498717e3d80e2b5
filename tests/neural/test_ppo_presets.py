"""PPO's documented presets are valid configs that run on their env."""

from __future__ import annotations

import dataclasses

from rlhf_edu.neural import ppo


def test_acrobot_config_trains_on_acrobot_with_its_batch_of_16_envs_x_128_steps():
    config = ppo.ACROBOT_CONFIG
    assert (config.n_envs, config.n_steps, config.gamma, config.gae_lambda) == (16, 128, 0.99, 0.94)
    short = dataclasses.replace(config, total_steps=2 * 16 * 128)
    result = ppo.train("Acrobot-v1", short, seed=0)
    assert result.history["env_steps"] == [2048, 4096]
