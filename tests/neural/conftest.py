"""Registers the toy environments of neural_toy_envs with gymnasium for the neural tests."""

from __future__ import annotations

import gymnasium as gym
import pytest
from neural_toy_envs import ContinuousEnv, CounterEnv, ImageEnv


def _register(env_id: str, entry_point, **kwargs) -> None:
    if env_id not in gym.registry:
        gym.register(env_id, entry_point=entry_point, **kwargs)


@pytest.fixture(scope="session", autouse=True)
def toy_envs():
    _register("rlhf_edu_test/Counter-v0", CounterEnv, max_episode_steps=3)
    _register(
        "rlhf_edu_test/NaNReward-v0",
        lambda: CounterEnv(nan_after=200),
        max_episode_steps=50,
    )
    _register("rlhf_edu_test/Image-v0", ImageEnv)
    _register("rlhf_edu_test/Continuous-v0", ContinuousEnv)
