"""Counts and sizes are checked by one helper (rlhf_edu.utils.validation.check_int) in every track:
a wrong type raises TypeError, a value out of range ValueError, and both name the argument."""

import re

import gymnasium as gym
import pytest

from rlhf_edu.envs import BanditTestbed, TabularMDP, estimate_success_rate, gridworld_mdp
from rlhf_edu.neural import PPOConfig
from rlhf_edu.neural.networks import check_hidden_sizes
from rlhf_edu.neural.rollout import make_vec_env
from rlhf_edu.tabular import finite_horizon_evaluation, q_learning, run_testbed
from rlhf_edu.utils import save_checkpoint
from rlhf_edu.viz import smooth


def lake():
    return TabularMDP.from_gymnasium(gym.make("FrozenLake-v1"))


CASES = {
    "window": lambda v: smooth([1.0, 2.0], v),
    "horizon": lambda v: finite_horizon_evaluation(lake(), [[0.25] * 4] * 16, v),
    "n_episodes": lambda v: estimate_success_rate(gym.make("FrozenLake-v1"), lambda s: 0, v, 0),
    "k": lambda v: BanditTestbed(k=v, n_runs=2, seed=0),
    "n_runs": lambda v: run_testbed("epsilon_greedy", v, 10, 0),
    "n_envs": lambda v: make_vec_env("CartPole-v1", v, 0),
    "hidden_sizes[0]": lambda v: check_hidden_sizes((v, 4)),
    "n_steps": lambda v: PPOConfig(n_steps=v),
    "max_episode_steps": lambda v: q_learning(
        "FrozenLake-v1", 1, 0.1, 0.9, 0.1, 0, max_episode_steps=v
    ),
    "shape[0]": lambda v: gridworld_mdp((v, 2)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_float_count_is_a_type_error_naming_the_argument(name):
    with pytest.raises(TypeError, match=re.escape(name) + ".* must be an int"):
        CASES[name](2.0)


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_zero_count_is_a_value_error_naming_the_argument(name):
    with pytest.raises(ValueError, match=re.escape(name) + ".* must be an int >= 1"):
        CASES[name](0)


def test_checkpoint_keep_must_be_a_positive_int(tmp_path):
    with pytest.raises(ValueError, match="keep must be an int >= 1"):
        save_checkpoint({"x": 1}, tmp_path, step=1, keep=0)
    with pytest.raises(TypeError, match="step must be an int >= 0"):
        save_checkpoint({"x": 1}, tmp_path, step=1.0)
