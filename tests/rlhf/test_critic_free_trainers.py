"""The GRPO and RLOO trainers on a tiny random GPT-2: one update against hand-computed numbers,
the loss pieces against PPO's shared functions, group sampling, determinism, resume, bad input."""

from __future__ import annotations

import copy

import pytest
import torch
from helpers.tiny_gpt2 import PROMPTS, tiny_policy, tiny_tokenizer

from rlhf_edu.neural.ppo import approx_kl
from rlhf_edu.rlhf.critic_free import broadcast_sequence_advantages
from rlhf_edu.rlhf.grpo import GRPOConfig, GRPOTrainer, group_advantages, grpo_loss, k3_kl
from rlhf_edu.rlhf.ppo import (
    RLHFParts,
    RLHFPPOConfig,
    clipped_policy_loss,
    kl_penalized_rewards,
)
from rlhf_edu.rlhf.rloo import RLOOConfig, RLOOTrainer, rloo_sequence_rewards

GRPO_SMALL = GRPOConfig(
    batch_size=8, max_new_tokens=8, group_size=4, ppo_epochs=1, learning_rate=1e-3
)
RLOO_SMALL = RLOOConfig(batch_size=8, max_new_tokens=8, k=2, ppo_epochs=1, learning_rate=1e-3)


def length_reward(prompts: list[str], responses: list[str]) -> torch.Tensor:
    """Distinct scores for most responses (the letter reward ties often on a random model)."""
    return torch.tensor([len(r) / 10 + r.count("e") for r in responses], dtype=torch.float32)


def make(trainer_class, config, seed=0, reward=length_reward, **kwargs):
    torch.set_num_threads(1)
    return trainer_class(
        tiny_policy(), tiny_tokenizer(), reward, PROMPTS, config, seed=seed, **kwargs
    )


def expected_update(trainer, rollout, sequence_advantages, beta):
    """The update's gradient by hand: the loss at ratio 1 is -mean_{i,t}(ratio A_i) + beta *
    mean_{i,t} k3, differentiated on a copy of the trainer's model, then norm-clipped."""
    model = copy.deepcopy(trainer.model)
    mask = rollout.response_mask.float()
    input_ids = torch.cat([rollout.prompt_ids, rollout.response_ids], dim=1)
    attention_mask = torch.cat([rollout.prompt_mask, rollout.response_mask], dim=1)
    logprobs, _, _ = model(input_ids, attention_mask, rollout.response_ids)
    ratio = torch.exp(logprobs - logprobs.detach())  # 1, with the gradient of log pi
    policy_loss = -(ratio * sequence_advantages[:, None] * mask).sum() / mask.sum()
    log_r = (rollout.ref_logprobs - logprobs) * mask
    kl = ((torch.exp(log_r) - 1 - log_r) * mask).sum() / mask.sum()
    (policy_loss + beta * kl).backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), trainer.config.max_grad_norm)
    return model, policy_loss.item(), kl.item()


def assert_same_gradients(trainer_model, model):
    """The trainer's last step used the hand-computed gradient (its grads stay after the step);
    the value head gets none: there is no critic."""
    for (name, a), b in zip(trainer_model.named_parameters(), model.parameters()):
        if name.startswith("value_head"):
            assert a.grad is None and b.grad is None
        else:
            torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-7, msg=name)


def assert_same_weights(model_a, model_b):
    for (name, a), b in zip(model_a.named_parameters(), model_b.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7, msg=name)


def test_grpo_update_matches_the_hand_computed_advantages_loss_and_gradient():
    trainer = make(GRPOTrainer, GRPO_SMALL)
    trainer.step()  # the second update: the policy has left the reference, so the k3 KL is > 0
    rollout, _ = trainer.collect()
    scores = rollout.scores - 1.0 * (~rollout.contains_eos).float()  # the missing-EOS penalty
    by_hand = []
    for group in scores.view(2, 4):  # (s - mean) / (unbiased std + 1e-4), per group of 4
        mean = group.sum() / 4
        std = torch.sqrt(((group - mean) ** 2).sum() / 3)
        by_hand.append((group - mean) / (std + 1e-4))
    advantages = torch.cat(by_hand)
    torch.testing.assert_close(trainer.sequence_advantages(rollout, 0.04), advantages)
    model, policy_loss, kl = expected_update(trainer, rollout, advantages, beta=0.04)
    assert kl > 0
    metrics = trainer.step()
    assert metrics["policy_loss"] == pytest.approx(policy_loss, rel=1e-5, abs=1e-6)
    assert metrics["kl_loss"] == pytest.approx(kl, rel=1e-5)
    assert metrics["ratio_dev_first"] == 0.0
    assert "value_loss" not in metrics and "explained_variance" not in metrics
    assert_same_gradients(trainer.model, model)
    # no critic: the value head never receives a gradient and stays at its zero initialisation
    assert trainer.model.value_head.weight.abs().sum() == 0


def test_rloo_update_matches_the_hand_computed_leave_one_out_rewards_and_gradient():
    trainer = make(RLOOTrainer, RLOO_SMALL)
    trainer.step()
    rollout, _ = trainer.collect()
    sequence_kl = ((rollout.logprobs - rollout.ref_logprobs) * rollout.response_mask).sum(1)
    assert sequence_kl.abs().sum() > 0
    rewards = rollout.scores - 1.0 * (~rollout.contains_eos).float() - 0.05 * sequence_kl
    pairs = rewards.view(4, 2)  # k = 2: the baseline is the other sample
    advantages = torch.stack([pairs[:, 0] - pairs[:, 1], pairs[:, 1] - pairs[:, 0]], 1).flatten()
    torch.testing.assert_close(trainer.sequence_advantages(rollout, 0.05), advantages)
    model, policy_loss, _ = expected_update(trainer, rollout, advantages, beta=0.0)
    metrics = trainer.step()
    assert metrics["policy_loss"] == pytest.approx(policy_loss, rel=1e-5, abs=1e-6)
    assert metrics["kl_coef"] == 0.05
    assert_same_gradients(trainer.model, model)


def test_loss_pieces_are_ppos_shared_functions():
    generator = torch.Generator().manual_seed(0)
    logprobs = -torch.rand(6, 5, generator=generator) * 3
    old = logprobs + 0.3 * torch.randn(6, 5, generator=generator)
    ref = logprobs + 0.5 * torch.randn(6, 5, generator=generator)
    mask = torch.ones(6, 5)
    mask[2, 3:] = 0
    scores = torch.randn(6, generator=generator)
    advantages = broadcast_sequence_advantages(group_advantages(scores, 3), mask)
    loss, policy_loss, kl = grpo_loss(logprobs, old, ref, advantages, mask, 0.2, beta=0.1)
    assert policy_loss == clipped_policy_loss(logprobs, old, advantages, mask, 0.2)
    # k3 of the reference against the policy is the approx-KL diagnostic of PPO with the roles
    assert kl.item() == pytest.approx(approx_kl(ref - logprobs, mask), rel=1e-6)
    assert loss == policy_loss + 0.1 * kl
    # RLOO's sequence reward is PPO's per-token KL-penalised reward summed over the response
    torch.testing.assert_close(
        rloo_sequence_rewards(scores, old, ref, mask, 0.05),
        kl_penalized_rewards(scores, old, ref, mask, 0.05).sum(1),
    )
    torch.testing.assert_close(
        rloo_sequence_rewards(scores, old, ref, mask, 0.05),
        scores - 0.05 * ((old - ref) * mask).sum(1),
    )


def test_k3_and_broadcast_on_hand_numbers():
    logprobs = torch.tensor([[-1.0, -2.0, -3.0]])
    ref = torch.tensor([[-1.0, -1.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0]])  # the last position is padding: 0, never exp(3)
    expected = torch.tensor([[0.0, torch.e - 1 - 1, 0.0]])  # exp(1) - 1 - 1 at the second token
    torch.testing.assert_close(k3_kl(logprobs, ref, mask), expected)
    torch.testing.assert_close(
        broadcast_sequence_advantages(
            torch.tensor([2.0, -1.0]), torch.tensor([[1, 1, 0], [1, 0, 0]])
        ),
        torch.tensor([[2.0, 2.0, 0.0], [-1.0, 0.0, 0.0]]),
    )


@pytest.mark.parametrize(
    "trainer_class, config", [(GRPOTrainer, GRPO_SMALL), (RLOOTrainer, RLOO_SMALL)]
)
def test_each_prompt_is_sampled_group_size_times_in_a_row(trainer_class, config):
    trainer = make(trainer_class, config)
    rollout, _ = trainer.collect()
    size = trainer.group_size
    groups = [rollout.prompts[i : i + size] for i in range(0, len(rollout.prompts), size)]
    assert all(len(set(group)) == 1 for group in groups)
    assert len(groups) == config.batch_size // size
    assert len(set(rollout.responses)) > len(groups)  # the samples of a group differ


def without_seconds(rows):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]


@pytest.mark.parametrize(
    "trainer_class, config", [(GRPOTrainer, GRPO_SMALL), (RLOOTrainer, RLOO_SMALL)]
)
def test_same_seed_same_run_and_resume_repeats_the_uninterrupted_run(
    trainer_class, config, tmp_path
):
    config = config.replace(ppo_epochs=2, n_minibatches=2)
    straight = make(trainer_class, config)
    straight.train(3, show_progress=False)
    make(trainer_class, config).train(1, checkpoint_dir=tmp_path, show_progress=False)
    resumed = make(trainer_class, config)  # a fresh process: the same seed, new weights
    resumed.load(tmp_path)
    assert resumed.update_index == 1
    resumed.train(3, show_progress=False)
    assert without_seconds(resumed.history.rows) == without_seconds(straight.history.rows)
    assert_same_weights(resumed.model, straight.model)


def test_bad_group_sizes_and_configs_are_errors_that_name_the_argument():
    with pytest.raises(ValueError, match="group_size=3 does not divide batch_size=8"):
        GRPOConfig(batch_size=8, group_size=3)
    with pytest.raises(ValueError, match="group_size must be an int >= 2"):
        GRPOConfig(batch_size=8, group_size=1)
    with pytest.raises(ValueError, match="k must be an int >= 2"):
        RLOOConfig(batch_size=8, k=1)
    with pytest.raises(ValueError, match="k=3 does not divide batch_size=8"):
        RLOOConfig(batch_size=8, k=3)
    with pytest.raises(ValueError, match="beta"):
        GRPOConfig(beta=-0.1)
    with pytest.raises(ValueError, match="kl_coef"):
        RLOOConfig(kl_coef=-1.0)
    with pytest.raises(TypeError, match="config must be a GRPOConfig, got RLHFPPOConfig"):
        make(GRPOTrainer, RLHFPPOConfig(batch_size=8))
    with pytest.raises(ValueError, match="parts.rlhf_step"):
        make(RLOOTrainer, RLOO_SMALL, parts=RLHFParts(rlhf_step=lambda *a: {}))
