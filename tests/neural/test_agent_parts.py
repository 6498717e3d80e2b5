"""The pieces DQN and REINFORCE are built from (the graded exercises' references), and the
``parts=`` argument through which a student's pieces run inside the library's loops."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from rlhf_edu.neural import DQNConfig, ReinforceConfig, dqn, reinforce
from rlhf_edu.neural.returns import discounted_returns


def test_replay_buffer_is_circular_and_samples_only_filled_rows():
    buffer = dqn.make_replay_buffer(3, 2)
    for t in range(4):
        dqn.replay_add(buffer, [t, t], t % 2, float(t), [t + 1, t + 1], t == 3)
    assert (buffer["position"], buffer["size"]) == (1, 3)
    np.testing.assert_array_equal(buffer["rewards"], [3.0, 1.0, 2.0])
    np.testing.assert_array_equal(buffer["terminated"], [1.0, 0.0, 0.0])
    half = dqn.make_replay_buffer(10, 1)
    dqn.replay_add(half, [0.5], 1, 7.0, [0.0], False)
    _, actions, rewards, _, _ = dqn.replay_sample(half, 50, np.random.default_rng(0))
    assert torch.all(rewards == 7.0) and torch.all(actions == 1) and actions.dtype == torch.int64
    with pytest.raises(ValueError, match="empty"):
        dqn.replay_sample(dqn.make_replay_buffer(2, 1), 1, np.random.default_rng(0))


def test_replay_buffer_class_wraps_the_functions():
    buffer = dqn.ReplayBuffer(4, 2, seed=1)
    for t in range(6):
        buffer.add([t, t], 0, float(t), [t, t], False)
    assert len(buffer) == 4
    obs, *_ = buffer.sample(3)
    assert obs.shape == (3, 2)


def test_dqn_loss_stops_the_gradient_at_the_target():
    q_values = torch.tensor([[1.0, 5.0], [0.0, 2.0]], requires_grad=True)
    targets = torch.tensor([4.5, 0.0], requires_grad=True)
    loss = dqn.dqn_loss(q_values, torch.tensor([1, 0]), targets)
    assert loss.item() == pytest.approx((0.125 + 0.0) / 2)
    loss.backward()
    assert targets.grad is None
    next_q = torch.tensor([[1.0, 3.0], [0.0, 0.0]], requires_grad=True)
    dqn.q_learning_loss(
        q_values, next_q, torch.tensor([1, 0]), torch.zeros(2), torch.zeros(2), 0.9
    ).backward()
    assert next_q.grad is None


def test_update_target_is_polyak_and_a_hard_copy_at_tau_one():
    target = {"w": torch.tensor([0.0, 4.0])}
    online = {"w": torch.tensor([1.0, 2.0])}
    torch.testing.assert_close(
        dqn.update_target(target, online, 0.25)["w"], torch.tensor([0.25, 3.5])
    )
    assert torch.equal(dqn.update_target(target, online, 1.0)["w"], online["w"])
    assert torch.equal(target["w"], torch.tensor([0.0, 4.0]))  # inputs untouched


def test_dqn_config_refuses_a_tau_outside_zero_one():
    with pytest.raises(ValueError, match="tau"):
        DQNConfig(tau=0.0)
    with pytest.raises(ValueError, match="tau"):
        DQNConfig(tau=1.5)


def test_dqn_train_with_explicit_default_parts_is_the_default_run():
    config = DQNConfig(
        total_steps=300,
        learning_starts=200,
        train_frequency=32,
        eval_every=None,
        hidden_sizes=(16,),
        batch_size=16,
        gradient_steps=4,
    )
    a = dqn.train("CartPole-v1", config, seed=2)
    b = dqn.train("CartPole-v1", config, seed=2, parts=dqn.DQNParts())
    assert list(a.history) == list(b.history)
    sa, sb = a.agent.q_network.state_dict(), b.agent.q_network.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    with pytest.raises(TypeError, match="parts"):
        dqn.train("CartPole-v1", config, parts={"td_target": dqn.td_target})


def test_dqn_train_uses_the_parts_it_is_given():
    calls = []

    def counting_loss(q_values, actions, td_targets):
        calls.append(len(actions))
        return dqn.dqn_loss(q_values, actions, td_targets)

    config = DQNConfig(
        total_steps=260,
        learning_starts=200,
        train_frequency=32,
        eval_every=None,
        hidden_sizes=(16,),
        batch_size=16,
        gradient_steps=3,
    )
    dqn.train("CartPole-v1", config, seed=0, parts=dqn.DQNParts(dqn_loss=counting_loss))
    assert calls == [16] * 6  # phases at steps 224 and 256, three gradient steps each


def test_softmax_bandit_gradient_matches_finite_differences_and_its_estimate():
    rng = np.random.default_rng(0)
    theta, rewards = rng.normal(size=4), rng.normal(size=4)
    exact = reinforce.softmax_bandit_gradient(theta, rewards)

    def objective(t):
        return reinforce.softmax_probs(t) @ rewards

    numeric = [
        (objective(theta + 1e-6 * e) - objective(theta - 1e-6 * e)) / 2e-6 for e in np.eye(4)
    ]
    np.testing.assert_allclose(exact, numeric, atol=1e-8)
    estimate = reinforce.score_function_gradient(theta, rewards, 200_000, rng)
    np.testing.assert_allclose(estimate, exact, atol=0.01)
    with pytest.raises(ValueError, match="n_samples"):
        reinforce.score_function_gradient(theta, rewards, 0, rng)


def test_episode_policy_loss_weights_each_step_by_its_reward_to_go():
    logprobs = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    rewards = torch.tensor([1.0, 0.0, 2.0], dtype=torch.float64)
    reinforce.episode_policy_loss(logprobs, rewards, 0.9).backward()
    torch.testing.assert_close(-logprobs.grad, torch.tensor([2.62, 1.8, 2.0], dtype=torch.float64))


def test_reinforce_train_with_explicit_default_parts_is_the_default_run():
    for kwargs in ({}, {"normalize_advantages": False}):
        config = ReinforceConfig(total_steps=400, hidden_sizes=(16,), **kwargs)
        a = reinforce.train("CartPole-v1", config, seed=1)
        b = reinforce.train("CartPole-v1", config, seed=1, parts=reinforce.ReinforceParts())
        assert list(a.history) == list(b.history)
    with pytest.raises(TypeError, match="parts"):
        reinforce.train("CartPole-v1", config, parts=discounted_returns)


def test_reinforce_loop_is_reproducible_and_refuses_bad_sizes():
    def run(seed):
        torch.manual_seed(seed)
        policy = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
        return reinforce.reinforce_loop(gym.make("CartPole-v1"), policy, 3, 2, 0.99, 0.01, seed)

    first = run(5)
    assert len(first) == 3 and first == run(5)
    with pytest.raises(ValueError, match="n_updates"):
        reinforce.reinforce_loop(
            gym.make("CartPole-v1"), torch.nn.Linear(4, 2), 0, 2, 0.99, 0.01, 0
        )
