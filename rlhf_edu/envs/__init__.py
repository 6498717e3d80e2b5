"""Toy environments (gymnasium API) and tabular MDPs.

Importing this package registers the course's envs with gymnasium (idempotent):

- ``rlhf_edu/GridWorld-v0``            configurable (``layout="sb4x4" | "sb5x5" | "custom"``)
- ``rlhf_edu/GridWorld4x4-v0``         Sutton & Barto Example 4.1
- ``rlhf_edu/GridWorld5x5-v0``         Sutton & Barto Figure 3.2 (continuing; 100-step time limit)
- ``rlhf_edu/WindyGridworld-v0``       Example 6.5
- ``rlhf_edu/MaximizationBias-v0``     Example 6.7
- ``rlhf_edu/KArmedBandit-v0``         Section 2.3's testbed, one problem
"""

import gymnasium as gym

from rlhf_edu.envs.bandits import BanditTestbed, KArmedBanditEnv
from rlhf_edu.envs.evaluation import estimate_success_rate, random_policy
from rlhf_edu.envs.gridworlds import (
    GRID_ACTION_NAMES,
    GridWorldEnv,
    MaximizationBiasEnv,
    WindyGridworldEnv,
    gridworld_mdp,
    maximization_bias_mdp,
    sb_gridworld_4x4,
    sb_gridworld_5x5,
    windy_gridworld_mdp,
)
from rlhf_edu.envs.mdp import TabularMDP, check_discrete_env, check_policy
from rlhf_edu.envs.tabular_env import TabularEnv

#: id -> (entry point, kwargs, max_episode_steps)
_REGISTRY = {
    "rlhf_edu/GridWorld-v0": ("rlhf_edu.envs.gridworlds:GridWorldEnv", {}, 100),
    "rlhf_edu/GridWorld4x4-v0": ("rlhf_edu.envs.gridworlds:GridWorldEnv", {"layout": "sb4x4"}, 100),
    "rlhf_edu/GridWorld5x5-v0": ("rlhf_edu.envs.gridworlds:GridWorldEnv", {"layout": "sb5x5"}, 100),
    "rlhf_edu/WindyGridworld-v0": ("rlhf_edu.envs.gridworlds:WindyGridworldEnv", {}, None),
    "rlhf_edu/MaximizationBias-v0": ("rlhf_edu.envs.gridworlds:MaximizationBiasEnv", {}, None),
    "rlhf_edu/KArmedBandit-v0": ("rlhf_edu.envs.bandits:KArmedBanditEnv", {}, None),
}


def register_envs() -> None:
    """Register the course's envs with gymnasium; calling it again does nothing."""
    for env_id, (entry_point, kwargs, max_steps) in _REGISTRY.items():
        if env_id not in gym.registry:
            gym.register(
                id=env_id, entry_point=entry_point, kwargs=kwargs, max_episode_steps=max_steps
            )


register_envs()

__all__ = [
    "GRID_ACTION_NAMES",
    "BanditTestbed",
    "GridWorldEnv",
    "KArmedBanditEnv",
    "MaximizationBiasEnv",
    "TabularEnv",
    "TabularMDP",
    "WindyGridworldEnv",
    "check_discrete_env",
    "check_policy",
    "estimate_success_rate",
    "gridworld_mdp",
    "maximization_bias_mdp",
    "random_policy",
    "register_envs",
    "sb_gridworld_4x4",
    "sb_gridworld_5x5",
    "windy_gridworld_mdp",
]
