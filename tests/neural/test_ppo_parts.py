"""PPO's pieces as students write them: the minibatch update, entropy, advantage normalisation,
the detached old log-probs, and ``train(parts=...)`` running the loop with replaced pieces."""

from __future__ import annotations

import copy

import pytest
import torch

from rlhf_edu.neural import PPOConfig, ppo
from rlhf_edu.neural.networks import ActorCritic
from rlhf_edu.neural.returns import compute_gae

TINY = PPOConfig(total_steps=512, n_envs=4, n_steps=64, n_epochs=2, minibatch_size=128)


def random_batch(n: int = 16, obs_dim: int = 3, n_actions: int = 2, seed: int = 0):
    torch.manual_seed(seed)
    net = ActorCritic(obs_dim, n_actions, (8,))
    obs = torch.randn(n, obs_dim)
    actions = torch.randint(0, n_actions, (n,))
    with torch.no_grad():
        logprobs = torch.log_softmax(net.logits(obs), -1).gather(-1, actions[:, None]).squeeze(-1)
        values = net.value(obs)
    advantages = torch.randn(n)
    batch = {
        "obs": obs,
        "actions": actions,
        "logprobs": logprobs,
        "values": values,
        "advantages": advantages,
        "returns": advantages + values,
    }
    return net, batch


def test_ppo_update_is_deterministic_given_the_generator_and_logs_one_value_per_minibatch():
    config = PPOConfig(n_envs=4, n_steps=4, n_epochs=3, minibatch_size=8, clip_value_coef=0.2)
    runs = []
    for _ in range(2):
        net, batch = random_batch()
        optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
        generator = torch.Generator().manual_seed(1)
        runs.append(ppo.ppo_update(net, optimizer, batch, config, generator))
    assert runs[0] == runs[1]
    assert set(runs[0]) == set(ppo.DIAGNOSTICS)
    assert all(len(v) == 3 * 2 for v in runs[0].values())
    # the first minibatch is evaluated at pi == pi_old: ratio 1, nothing clipped
    assert runs[0]["approx_kl"][0] == pytest.approx(0.0, abs=1e-7)
    assert runs[0]["clip_fraction"][0] == 0.0
    assert runs[0]["policy_loss"][1] != runs[0]["policy_loss"][0]  # the steps changed the net


def test_first_epoch_policy_loss_has_the_policy_gradient_and_value_minus_mean_advantage():
    torch.manual_seed(0)
    logits = torch.randn(6, 3, requires_grad=True)
    actions, advantages = torch.randint(0, 3, (6,)), torch.randn(6)
    loss = ppo.first_epoch_policy_loss(logits, actions, advantages, 0.2)
    loss.backward()
    torch.testing.assert_close(loss.detach(), -advantages.mean())
    one_hot = torch.nn.functional.one_hot(actions, 3).float()
    expected = -(advantages[:, None] * (one_hot - torch.softmax(logits.detach(), -1))) / 6
    torch.testing.assert_close(logits.grad, expected)


def test_entropy_and_advantage_normalisation():
    logits = torch.tensor([[0.0, 0.0, 0.0, 0.0], [1000.0, 0.0, 0.0, 0.0]])
    torch.testing.assert_close(
        ppo.categorical_entropy(logits), torch.tensor([1.3863, 0.0]), atol=1e-4, rtol=0
    )
    normed = ppo.normalize_advantages(torch.tensor([1.0, 2.0, 6.0]))
    assert float(normed.mean()) == pytest.approx(0.0, abs=1e-6)
    assert float(normed.std()) == pytest.approx(1.0, abs=1e-6)
    torch.testing.assert_close(ppo.normalize_advantages(torch.tensor([3.0])), torch.tensor([3.0]))


def test_train_with_the_library_parts_passed_explicitly_repeats_the_default_run():
    default = ppo.train("CartPole-v1", TINY, seed=0).history
    explicit = ppo.train(
        "CartPole-v1", TINY, seed=0, parts={"compute_gae": compute_gae, "update": ppo.ppo_update}
    ).history
    assert default.rows == explicit.rows


def test_train_logs_nan_for_the_diagnostics_a_custom_update_does_not_return():
    def update(net, optimizer, batch, config, generator):
        diagnostics = ppo.ppo_update(net, optimizer, batch, config, generator)
        return {"policy_loss": diagnostics["policy_loss"], "value_loss": diagnostics["value_loss"]}

    history = ppo.train("CartPole-v1", TINY, seed=0, parts={"update": update}).history
    row = history.rows[-1]
    assert row["policy_loss"] == row["policy_loss"]  # finite
    assert row["approx_kl"] != row["approx_kl"]  # NaN


def test_train_rejects_unknown_or_uncallable_parts():
    with pytest.raises(ValueError, match="unknown part 'loss'"):
        ppo.train("CartPole-v1", TINY, parts={"loss": print})
    with pytest.raises(TypeError, match=r"parts\['update'\] must be callable"):
        ppo.train("CartPole-v1", TINY, parts={"update": 3})
    with pytest.raises(TypeError, match="parts must be a dict"):
        ppo.train("CartPole-v1", TINY, parts=[compute_gae])


def test_ppo_update_leaves_the_batch_alone():
    net, batch = random_batch()
    before = copy.deepcopy(batch)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    ppo.ppo_update(net, optimizer, batch, TINY, torch.Generator().manual_seed(0))
    for key in batch:
        torch.testing.assert_close(batch[key], before[key])
