"""Configs refuse bad input naming the field; training runs, saves, loads and stops on NaN."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from rlhf_edu.neural import (
    ActorCriticConfig,
    DQNConfig,
    NonFiniteLossError,
    PPOConfig,
    ReinforceConfig,
    actor_critic,
    dqn,
    evaluate,
    load_agent,
    ppo,
    reinforce,
)
from rlhf_edu.neural.networks import check_observation_space
from rlhf_edu.utils import latest_checkpoint


@pytest.mark.parametrize(
    "make_config,field",
    [
        (lambda: PPOConfig(clip_coef=0.0), "clip_coef"),
        (lambda: PPOConfig(clip_coef=-0.1), "clip_coef"),
        (lambda: PPOConfig(gae_lambda=1.5), "gae_lambda"),
        (lambda: PPOConfig(gamma=-0.01), "gamma"),
        (lambda: PPOConfig(gamma=1.01), "gamma"),
        (lambda: PPOConfig(n_envs=0), "n_envs"),
        (lambda: PPOConfig(n_envs=4, n_steps=10, minibatch_size=16), "minibatch_size"),
        (lambda: PPOConfig(learning_rate=float("nan")), "learning_rate"),
        (lambda: PPOConfig(hidden_sizes=(64, 0)), "hidden_sizes"),
        (lambda: ActorCriticConfig(n_envs=0), "n_envs"),
        (lambda: ActorCriticConfig(gae_lambda=-0.5), "gae_lambda"),
        (lambda: ReinforceConfig(gamma=2.0), "gamma"),
        (lambda: ReinforceConfig(episodes_per_update=0), "episodes_per_update"),
        (lambda: DQNConfig(gamma=1.5), "gamma"),
        (lambda: DQNConfig(epsilon_end=1.5), "epsilon_end"),
        (lambda: DQNConfig(batch_size=0), "batch_size"),
        (lambda: DQNConfig(eval_every=0), "eval_every"),
        (lambda: DQNConfig(eval_episodes=0), "eval_episodes"),
    ],
)
def test_config_rejects_out_of_range_fields_naming_the_field(make_config, field):
    with pytest.raises(ValueError, match=field):
        make_config()


def test_minibatch_error_states_the_batch_size():
    with pytest.raises(ValueError, match=r"n_envs \* n_steps = 40"):
        PPOConfig(n_envs=4, n_steps=10, minibatch_size=16)


def test_dqn_refuses_a_continuous_action_space():
    with pytest.raises(TypeError, match="Discrete action_space"):
        dqn.train("rlhf_edu_test/Continuous-v0", DQNConfig(total_steps=10))
    with pytest.raises(TypeError, match="Discrete action_space"):
        dqn.train("MountainCarContinuous-v0", DQNConfig(total_steps=10))


def test_mlp_policy_refuses_an_image_observation():
    with pytest.raises(ValueError, match="observation_space must be a flat vector"):
        ppo.train("rlhf_edu_test/Image-v0", PPOConfig(total_steps=64))
    with pytest.raises(ValueError, match=r"\(84, 84, 3\)"):
        check_observation_space(gym.spaces.Box(0, 255, (84, 84, 3), np.uint8))


def test_train_rejects_a_config_of_the_wrong_algorithm():
    with pytest.raises(TypeError, match="PPOConfig"):
        ppo.train("CartPole-v1", DQNConfig())


@pytest.mark.parametrize(
    "module,config",
    [
        (ppo, PPOConfig(total_steps=512, n_envs=2, n_steps=64, minibatch_size=64, n_epochs=2)),
        (actor_critic, ActorCriticConfig(total_steps=512, n_envs=2, n_steps=8)),
        (reinforce, ReinforceConfig(total_steps=300, episodes_per_update=2)),
        (dqn, DQNConfig(total_steps=600, learning_starts=200, batch_size=32)),
    ],
)
def test_training_is_repeatable_and_the_agent_survives_save_and_load(module, config, tmp_path):
    first = module.train("CartPole-v1", config, seed=3)
    second = module.train("CartPole-v1", config, seed=3)
    assert len(first.history) > 0
    for p, q in zip(first.agent.parameters(), second.agent.parameters()):
        torch.testing.assert_close(p, q)
    path = first.agent.save(tmp_path / "agent.pt")
    loaded = load_agent(path)
    obs = np.random.default_rng(0).normal(size=(16, 4)).astype(np.float32)
    np.testing.assert_array_equal(loaded.act(obs), first.agent.act(obs))
    assert loaded.env_id == "CartPole-v1"
    assert evaluate(loaded, "CartPole-v1", 3, seed=5) == evaluate(first.agent, "CartPole-v1", 3, 5)


def test_dqn_returns_the_first_best_validated_weights_and_validation_leaves_training_alone():
    small = dict(total_steps=3000, learning_starts=200, batch_size=32, eval_episodes=3)
    snapshots = {}

    def snapshot(agent, step):
        snapshots[step] = {k: v.clone() for k, v in agent.q_network.state_dict().items()}

    kept = dqn.train("CartPole-v1", DQNConfig(**small, eval_every=500), seed=1, callback=snapshot,
                     callback_every=500)  # fmt: skip
    last = dqn.train("CartPole-v1", DQNConfig(**small, eval_every=None), seed=1)
    validations = [
        (r["env_steps"], r["eval_return"]) for r in kept.history.rows if "eval_return" in r
    ]
    assert [step for step, _ in validations] == list(range(500, 3001, 500))
    best_step = max(validations, key=lambda row: row[1])[0]  # max() keeps the first of ties
    for name, value in kept.agent.q_network.state_dict().items():
        torch.testing.assert_close(value, snapshots[best_step][name])
    # validation draws no random numbers: the run without it ends at the same last weights
    for name, value in last.agent.q_network.state_dict().items():
        torch.testing.assert_close(value, snapshots[3000][name])
    score = evaluate(kept.agent, "CartPole-v1", 3, dqn.VALIDATION_SEED)
    assert score == max(value for _, value in validations)


def test_evaluate_is_deterministic_and_rejects_bad_n_episodes():
    agent = ppo.train("CartPole-v1", PPOConfig(total_steps=256, n_epochs=1), seed=0).agent
    assert evaluate(agent, "CartPole-v1", 4, seed=1) == evaluate(agent, "CartPole-v1", 4, seed=1)
    with pytest.raises(ValueError, match="n_episodes"):
        evaluate(agent, "CartPole-v1", 0, seed=1)


def test_a_nan_loss_stops_training_naming_the_loss_and_update_and_keeps_the_checkpoint(tmp_path):
    config = PPOConfig(
        total_steps=2048,
        n_envs=2,
        n_steps=32,
        minibatch_size=64,
        n_epochs=1,
        checkpoint_dir=str(tmp_path),
        checkpoint_every=1,
    )
    with pytest.raises(NonFiniteLossError, match=r"(policy|value)_loss is nan at update \d+"):
        ppo.train("rlhf_edu_test/NaNReward-v0", config, seed=0)
    last = latest_checkpoint_any(tmp_path)
    agent = load_agent(last)
    assert all(torch.isfinite(p).all() for p in agent.parameters())


def test_dqn_nan_loss_stops_training_naming_the_td_loss(tmp_path):
    config = DQNConfig(
        total_steps=1000, learning_starts=100, checkpoint_dir=str(tmp_path), checkpoint_every=50
    )
    with pytest.raises(NonFiniteLossError, match="td_loss is nan at update"):
        dqn.train("rlhf_edu_test/NaNReward-v0", config, seed=0)
    assert load_agent(latest_checkpoint_any(tmp_path)) is not None


def latest_checkpoint_any(folder):
    files = sorted(folder.glob("agent-*.pt"))
    assert files, "no checkpoint was written before the NaN"
    assert latest_checkpoint(folder) is None  # agent files are named agent-*, not ckpt-*
    return files[-1]
