"""PPO's diagnostics as CleanRL reports them, averaged over every minibatch; target-KL early
stop; every config field documented."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rlhf_edu.neural import ActorCriticConfig, DQNConfig, PPOConfig, ReinforceConfig, ppo
from rlhf_edu.utils.validation import field_help

TINY = PPOConfig(total_steps=1024, n_envs=4, n_steps=64, n_epochs=3, minibatch_size=128)


def test_k3_approx_kl_is_zero_at_ratio_one_and_matches_its_formula():
    assert ppo.approx_kl(torch.zeros(5)) == 0.0
    log_ratio = torch.tensor([0.1, -0.2, 0.3])
    expected = float(((log_ratio.exp() - 1) - log_ratio).mean())
    assert ppo.approx_kl(log_ratio) == pytest.approx(expected, rel=1e-5)  # float32
    mask = torch.tensor([1, 0, 1])
    assert ppo.approx_kl(log_ratio, mask) == pytest.approx(
        float(((log_ratio.exp() - 1) - log_ratio)[[0, 2]].mean()), rel=1e-5
    )


def test_clip_fractions_count_samples_outside_the_clip_range():
    log_ratio = torch.log(torch.tensor([0.5, 1.0, 1.1, 1.5]))
    assert ppo.clip_fraction(log_ratio, 0.2) == 0.5
    values, old = torch.tensor([0.0, 1.0, 2.0]), torch.zeros(3)
    assert ppo.value_clip_fraction(values, old, 0.5) == pytest.approx(2 / 3)
    assert ppo.value_clip_fraction(values, old, None) == 0.0  # no value clipping


def test_explained_variance_is_one_for_a_perfect_critic_and_zero_for_the_mean():
    returns = torch.tensor([1.0, 2.0, 3.0, 6.0])
    assert ppo.explained_variance(returns, returns) == pytest.approx(1.0)
    assert ppo.explained_variance(torch.full((4,), 3.0), returns) == pytest.approx(0.0)
    assert ppo.explained_variance(-returns, returns) < 0
    assert math.isnan(ppo.explained_variance(returns, torch.ones(4)))  # constant returns
    mask = torch.tensor([1, 1, 1, 0])
    values = torch.tensor([1.0, 2.0, 3.0, 100.0])  # wrong only where masked out
    assert ppo.explained_variance(values, returns, mask) == pytest.approx(1.0)


def test_ppo_logs_every_diagnostic_averaged_over_the_minibatches():
    history = ppo.train("CartPole-v1", TINY, seed=0).history
    for key in ppo.DIAGNOSTICS + ("explained_variance",):
        values = history[key]
        assert len(values) == 4 and all(math.isfinite(v) for v in values), key
    assert all(0.0 <= v <= 1.0 for v in history["clip_fraction"])
    assert all(v >= 0.0 for v in history["approx_kl"])
    assert history["value_clip_fraction"] == [0.0] * 4  # the default clips no values
    clipped = ppo.train("CartPole-v1", TINY.__class__(**{**vars(TINY), "clip_value_coef": 0.01}))
    assert max(clipped.history["value_clip_fraction"]) > 0.0


def test_target_kl_stops_the_epochs_early_and_is_off_by_default():
    """A tiny target stops every update after its first epoch: the same agent as n_epochs=1."""
    assert PPOConfig().target_kl is None

    def weights(config):
        agent = ppo.train("CartPole-v1", config, seed=0).agent
        return [p.detach().clone() for p in agent.net.parameters()]

    stopped = weights(PPOConfig(**{**vars(TINY), "target_kl": 1e-12}))
    one_epoch = weights(PPOConfig(**{**vars(TINY), "n_epochs": 1}))
    full = weights(TINY)
    assert all(torch.equal(a, b) for a, b in zip(stopped, one_epoch))
    assert not all(torch.equal(a, b) for a, b in zip(stopped, full))
    with pytest.raises(ValueError, match="target_kl"):
        PPOConfig(target_kl=0.0)


@pytest.mark.parametrize("config", [PPOConfig, ActorCriticConfig, ReinforceConfig, DQNConfig])
def test_every_config_field_has_help_text(config):
    missing = [name for name, text in field_help(config).items() if not text.strip()]
    assert missing == [], f"{config.__name__} fields without help: {missing}"
    assert np.all([isinstance(text, str) for text in field_help(config).values()])
