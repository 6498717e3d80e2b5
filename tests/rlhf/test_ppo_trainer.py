"""The RLHF PPO trainer on a tiny random GPT-2: each implementation detail, resume, bad inputs."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from helpers.tiny_gpt2 import PROMPTS, letter_reward, tiny_policy, tiny_tokenizer

from rlhf_edu.rlhf.generation import (
    encode_prompts,
    logprobs_from_logits,
    response_logits_and_hidden,
    response_mask_from_tokens,
)
from rlhf_edu.rlhf.ppo import (
    RLHFParts,
    RLHFPPOConfig,
    RLHFPPOTrainer,
    TrainingDivergedError,
    rlhf_step,
    token_gae,
)
from rlhf_edu.utils import latest_checkpoint, load_checkpoint

SMALL = RLHFPPOConfig(batch_size=8, max_new_tokens=8, ppo_epochs=2, learning_rate=1e-3)


def make_trainer(config=SMALL, seed=0, policy=None, reward=letter_reward, **kwargs):
    torch.set_num_threads(1)
    return RLHFPPOTrainer(
        policy if policy is not None else tiny_policy(),
        tiny_tokenizer(),
        reward,
        PROMPTS,
        config,
        seed=seed,
        **kwargs,
    )


@pytest.mark.parametrize("n_minibatches, temperature", [(1, 1.0), (2, 0.7), (4, 1.3)])
def test_ratio_is_exactly_one_and_kl_zero_at_the_first_minibatch(n_minibatches, temperature):
    trainer = make_trainer(SMALL.replace(n_minibatches=n_minibatches, temperature=temperature))
    for _ in range(3):
        metrics = trainer.step()
        assert metrics["ratio_dev_first"] == 0.0
        assert metrics["approx_kl_first"] == 0.0


def test_with_dropout_on_the_first_ratio_is_not_one():
    """The check above catches a train/eval mismatch: dropout makes the two passes disagree."""
    policy = tiny_policy(dropout=0.3)
    metrics = make_trainer(SMALL.replace(disable_dropout=False), policy=policy).step()
    assert metrics["ratio_dev_first"] > 1e-3
    trainer = make_trainer(policy=tiny_policy(dropout=0.3))  # the default switches dropout off
    assert all(m.p == 0 for m in trainer.model.modules() if isinstance(m, torch.nn.Dropout))
    assert trainer.step()["ratio_dev_first"] == 0.0


def test_pad_token_equal_to_eos_is_refused():
    tok = copy.deepcopy(tiny_tokenizer())  # keep the cached tokenizer intact
    tok.pad_token = tok.eos_token
    with pytest.raises(ValueError, match="pad_token_id == eos_token_id"):
        RLHFPPOTrainer(tiny_policy(), tok, letter_reward, PROMPTS, SMALL)


def test_left_padded_prompts_give_the_same_logprobs_as_each_prompt_alone():
    policy, tokenizer = tiny_policy(), tiny_tokenizer()
    prompts = ["A", "Thoughts on the sushi bar, which we visited twice last week:"]
    response = torch.tensor([[5, 6, 7, 8]] * 2)
    batch = encode_prompts(tokenizer, prompts, 4, 64)
    assert (batch.attention_mask[0, :-1] == 0).any()  # the short prompt is left-padded
    ids = torch.cat([batch.input_ids, response], 1)
    mask = torch.cat([batch.attention_mask, torch.ones_like(response)], 1)
    with torch.no_grad():
        together = logprobs_from_logits(
            response_logits_and_hidden(policy, ids, mask, 4, 1.0)[0], response
        )
        for i, prompt in enumerate(prompts):
            alone = encode_prompts(tokenizer, [prompt], 4, 64)
            ids_i = torch.cat([alone.input_ids, response[:1]], 1)
            mask_i = torch.ones_like(ids_i)
            lp = logprobs_from_logits(
                response_logits_and_hidden(policy, ids_i, mask_i, 4, 1.0)[0], response[:1]
            )
            torch.testing.assert_close(together[i : i + 1], lp, atol=1e-5, rtol=1e-5)


def test_rollout_logprobs_come_from_a_forward_pass_at_the_sampling_temperature():
    trainer = make_trainer(SMALL.replace(temperature=0.5))
    rollout = trainer.rollout(PROMPTS[:4], torch.Generator().manual_seed(0))
    ids = torch.cat([rollout.prompt_ids, rollout.response_ids], 1)
    mask = torch.cat([rollout.prompt_mask, rollout.response_mask], 1)
    T = rollout.response_ids.shape[1]
    with torch.no_grad():
        logits, _ = response_logits_and_hidden(trainer.policy, ids, mask, T, 0.5)
        expected = logprobs_from_logits(logits, rollout.response_ids) * rollout.response_mask
        ref_logits, _ = response_logits_and_hidden(trainer.ref_policy, ids, mask, T, 0.5)
        expected_ref = (
            logprobs_from_logits(ref_logits, rollout.response_ids) * rollout.response_mask
        )
    torch.testing.assert_close(rollout.logprobs, expected, atol=1e-6, rtol=0)
    torch.testing.assert_close(rollout.ref_logprobs, expected_ref, atol=1e-6, rtol=0)
    # before any update the policy is the reference: KL exactly 0
    assert (rollout.logprobs == rollout.ref_logprobs).all()


def test_without_temperature_in_forward_the_trained_logprobs_are_not_the_sampled_ones():
    trainer = make_trainer(SMALL.replace(temperature=0.5, temperature_in_forward=False))
    rollout = trainer.rollout(PROMPTS[:4], torch.Generator().manual_seed(0))
    ids = torch.cat([rollout.prompt_ids, rollout.response_ids], 1)
    mask = torch.cat([rollout.prompt_mask, rollout.response_mask], 1)
    with torch.no_grad():
        logits, _ = response_logits_and_hidden(
            trainer.policy, ids, mask, rollout.response_ids.shape[1], 0.5
        )
        sampled = logprobs_from_logits(logits, rollout.response_ids) * rollout.response_mask
    assert not torch.allclose(rollout.logprobs, sampled, atol=1e-3)


def _policy_with_eos_bias(bias: float):
    policy = tiny_policy()
    eos = tiny_tokenizer().eos_token_id
    with torch.no_grad():
        policy.lm_head.weight.data = policy.lm_head.weight.data.clone()  # untie from embeddings
        policy.lm_head.bias = torch.nn.Parameter(torch.zeros(policy.config.vocab_size))
        policy.lm_head.bias[eos] = bias
    return policy


def test_responses_stop_at_eos_and_padding_after_it_is_masked_out():
    trainer = make_trainer(SMALL.replace(max_new_tokens=16), policy=_policy_with_eos_bias(2.5))
    rollout = trainer.rollout(PROMPTS * 3, torch.Generator().manual_seed(1))
    eos, pad = trainer.eos_token_id, trainer.pad_token_id
    assert rollout.contains_eos.any()
    for ids, mask in zip(rollout.response_ids.tolist(), rollout.response_mask.tolist()):
        if eos in ids:
            end = ids.index(eos)
            assert mask == [1] * (end + 1) + [0] * (len(ids) - end - 1)
            assert all(t == pad for t in ids[end + 1 :])
        else:
            assert all(mask)
    assert torch.equal(rollout.response_mask, response_mask_from_tokens(rollout.response_ids, eos))


def test_missing_eos_penalty_applies_only_to_responses_without_eos():
    trainer = make_trainer(
        SMALL.replace(missing_eos_penalty=2.0), policy=_policy_with_eos_bias(3.5)
    )
    rollout = trainer.rollout(PROMPTS * 3, torch.Generator().manual_seed(1))
    assert rollout.contains_eos.any() and not rollout.contains_eos.all()
    penalized = trainer.penalized_scores(rollout)
    expected = rollout.scores - 2.0 * (~rollout.contains_eos).float()
    torch.testing.assert_close(penalized, expected)
    off = make_trainer(SMALL.replace(missing_eos_penalty=None))
    torch.testing.assert_close(off.penalized_scores(rollout), rollout.scores)


def test_without_eos_stop_every_sampled_token_counts():
    trainer = make_trainer(SMALL.replace(stop_at_eos=False), policy=_policy_with_eos_bias(2.5))
    rollout = trainer.rollout(PROMPTS, torch.Generator().manual_seed(1))
    assert rollout.response_ids.shape[1] == SMALL.max_new_tokens
    assert rollout.response_mask.all()


def test_ppo_raises_a_toy_reward():
    config = RLHFPPOConfig(
        batch_size=16, max_new_tokens=10, learning_rate=3e-3, init_kl_coef=0.01, adaptive_kl=False
    )
    trainer = make_trainer(config)
    trainer.train(12)
    rewards = trainer.history["reward"]
    assert sum(rewards[-3:]) / 3 > sum(rewards[:3]) / 3 + 0.3
    assert all(math.isfinite(v) for v in trainer.history["kl"])


def test_resuming_from_a_checkpoint_repeats_the_uninterrupted_run(tmp_path):
    straight = make_trainer(seed=3)
    straight.train(4)
    first = make_trainer(seed=3)
    first.train(2, checkpoint_dir=tmp_path, checkpoint_every=1)
    resumed = make_trainer(seed=3)
    resumed.load(tmp_path)
    assert resumed.update_index == 2
    resumed.train(4)
    drop = ("seconds",)
    rows = [{k: v for k, v in r.items() if k not in drop} for r in straight.history.rows]
    again = [{k: v for k, v in r.items() if k not in drop} for r in resumed.history.rows]
    assert rows == again
    for a, b in zip(straight.model.parameters(), resumed.model.parameters()):
        assert torch.equal(a, b)


def test_a_nan_loss_stops_training_naming_the_loss_and_update_and_keeps_the_checkpoint(tmp_path):
    trainer = make_trainer()
    trainer.train(2, checkpoint_dir=tmp_path, checkpoint_every=1)
    with torch.no_grad():
        trainer.model.value_head.bias.fill_(float("nan"))
    with pytest.raises(TrainingDivergedError, match=r"(policy|value) loss is nan at update 2"):
        trainer.train(3, checkpoint_dir=tmp_path)
    last = latest_checkpoint(tmp_path)
    assert last is not None and load_checkpoint(last)["update_index"] == 2


def test_non_finite_scores_are_refused_naming_the_rows():
    def nan_reward(prompts, responses):
        scores = torch.zeros(len(responses))
        scores[1] = float("inf")
        return scores

    with pytest.raises(ValueError, match=r"non-finite scores .*\[1\]"):
        make_trainer(reward=nan_reward).step()


def test_bad_inputs_give_clear_errors():
    with pytest.raises(ValueError, match="prompts is empty"):
        RLHFPPOTrainer(tiny_policy(), tiny_tokenizer(), letter_reward, [], SMALL)
    with pytest.raises(ValueError, match="context"):
        RLHFPPOTrainer(tiny_policy(), tiny_tokenizer(), letter_reward, ["word " * 80], SMALL)
    with pytest.raises(TypeError, match="reward"):
        RLHFPPOTrainer(tiny_policy(), tiny_tokenizer(), 3.0, PROMPTS, SMALL)
    with pytest.raises(ValueError, match="one score per response"):
        make_trainer(reward=lambda p, r: torch.zeros(2)).step()


def test_a_reward_model_with_another_tokenizer_reads_the_decoded_text():
    """The reward sees text, so a reward model with its own tokenizer needs nothing special."""
    seen = []

    class OtherTokenizerRewardModel:
        def score(self, prompts, responses):
            seen.extend(responses)
            return torch.tensor([float(len(r.split())) for r in responses])

    metrics = make_trainer(reward=OtherTokenizerRewardModel()).step()
    assert math.isfinite(metrics["reward"]) and all(isinstance(s, str) for s in seen)


# -- diagnostics, the named parts of an update, target-KL early stop, bf16 ---------------------

DIAGNOSTICS = (
    "policy_loss",
    "value_loss",
    "approx_kl",
    "clipfrac",
    "entropy",
    "value_clipfrac",
    "explained_variance",
)


def test_step_is_its_named_parts_and_averages_diagnostics_over_every_minibatch():
    config = SMALL.replace(n_minibatches=2, ppo_epochs=3)
    metrics = make_trainer(config).step()
    assert set(DIAGNOSTICS) <= set(metrics)
    # explained variance is NaN when the returns do not vary (here: every response -1 at first)
    assert all(math.isfinite(metrics[k]) for k in DIAGNOSTICS if k != "explained_variance")
    # the same update, part by part
    trainer = make_trainer(config)
    prompts = trainer._sample_prompts(0)
    plan = trainer._minibatch_plan(0, len(prompts))
    rollout = trainer.rollout(prompts, trainer._generator(0, 2), chunks=plan[0])
    advantages, returns = trainer.advantages(rollout, trainer.kl_controller.value)
    stats = trainer.minibatch_updates(rollout, advantages, returns, plan, update=0)
    assert len(stats["approx_kl"]) == 6  # 3 epochs x 2 minibatches
    for key in ("policy_loss", "value_loss", "approx_kl", "clipfrac", "entropy", "value_clipfrac"):
        assert metrics[key] == pytest.approx(sum(stats[key]) / 6, rel=1e-6, abs=1e-12)
    assert stats["first"] == [0.0, 0.0]  # ratio 1 and KL 0 at the first minibatch
    assert 0.0 <= metrics["clipfrac"] <= 1.0 and 0.0 <= metrics["value_clipfrac"] <= 1.0
    assert metrics["approx_kl"] >= 0.0
    assert not metrics["explained_variance"] > 1.0


def test_early_stop_kl_skips_the_remaining_epochs():
    """A tiny threshold stops after the first epoch: the update equals one with ppo_epochs=1."""
    config = SMALL.replace(n_minibatches=2, ppo_epochs=4)

    def length_reward(prompts, responses):  # varies, so the first minibatch moves the policy
        return [len(r) / 10 for r in responses]

    stopped = make_trainer(config.replace(early_stop_kl=1e-12), reward=length_reward)
    one_epoch = make_trainer(config.replace(ppo_epochs=1), reward=length_reward)
    full = make_trainer(config, reward=length_reward)
    for trainer in (stopped, one_epoch, full):
        trainer.step()
    weights = [t._unwrapped().state_dict() for t in (stopped, one_epoch, full)]
    for a, b in zip(weights[0].values(), weights[1].values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert any(not torch.equal(a, b) for a, b in zip(weights[0].values(), weights[2].values()))
    assert RLHFPPOConfig().early_stop_kl is None  # off by default: the numbers stay the same


def test_bf16_autocast_path_runs_one_ppo_update_on_the_cpu():
    """The GPU's bf16 path (``precision='auto'`` on CUDA) made to run on the CPU: forward passes
    under ``torch.autocast("cpu", dtype=torch.bfloat16)``, log-probs and losses in float32."""
    trainer = make_trainer(SMALL.replace(precision="bf16"))
    batch = encode_prompts(tiny_tokenizer(), PROMPTS, 8, 64)
    with trainer._autocast():
        logits = trainer.policy(batch.input_ids, attention_mask=batch.attention_mask).logits
    assert logits.dtype == torch.bfloat16
    before = copy.deepcopy(trainer._unwrapped().state_dict())
    metrics = trainer.step()
    assert all(math.isfinite(metrics[k]) for k in DIAGNOSTICS if k != "explained_variance")
    assert metrics["ratio_dev_first"] == 0.0  # rollout and first minibatch: the same bf16 pass
    after = trainer._unwrapped().state_dict()
    assert all(v.dtype == torch.float32 for v in after.values() if v.is_floating_point())
    assert any(not torch.equal(before[k], after[k]) for k in before)
    evaluation = trainer.evaluate(PROMPTS, seed=0)
    assert math.isfinite(evaluation["kl"]) and len(evaluation["responses"]) == len(PROMPTS)
    # fp32 on the CPU unless asked: 'auto' means bf16 on CUDA only
    with make_trainer()._autocast():
        assert trainer.policy(batch.input_ids).logits.dtype == torch.float32


def test_rlhf_step_with_the_reference_parts_repeats_the_trainers_own_update():
    """``rlhf_step`` is the trainer's update without its diagnostics: same losses, same weights."""
    config = SMALL.replace(n_minibatches=2, ppo_epochs=2)
    own = make_trainer(config)
    textbook = make_trainer(config, parts=RLHFParts(rlhf_step=rlhf_step))
    for _ in range(2):
        a, b = own.step(), textbook.step()
        for key in ("reward", "kl", "kl_coef", "policy_loss", "value_loss", "explained_variance"):
            assert a[key] == pytest.approx(b[key], rel=1e-6, abs=1e-9, nan_ok=True), key
    assert "ratio_dev_first" not in b  # the diagnostics of the trainer's own loop only
    for p, q in zip(own.model.parameters(), textbook.model.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-7)


def test_parts_replace_the_reference_functions_and_the_kl_update():
    calls = {"token_gae": 0, "adaptive_kl_update": 0}

    def counting(name, fn):
        def wrapped(*args, **kwargs):
            calls[name] += 1
            return fn(*args, **kwargs)

        return wrapped

    parts = RLHFParts(
        token_gae=counting("token_gae", token_gae),
        adaptive_kl_update=lambda beta, kl, target, horizon, n: beta * 2.0,
    )
    trainer = make_trainer(parts=parts)
    trainer.step()
    trainer.step()
    assert calls["token_gae"] == 2
    assert trainer.kl_controller.value == pytest.approx(SMALL.init_kl_coef * 4)


def test_bad_parts_are_refused_with_clear_errors():
    with pytest.raises(TypeError, match="RLHFParts.whiten must be a function"):
        RLHFParts(whiten=3)
    with pytest.raises(TypeError, match="parts must be an RLHFParts"):
        make_trainer(parts={"rlhf_step": rlhf_step})
    with pytest.raises(ValueError, match="temperature_in_forward"):
        make_trainer(
            SMALL.replace(temperature_in_forward=False), parts=RLHFParts(rlhf_step=rlhf_step)
        )
    trainer = make_trainer(parts=RLHFParts(rlhf_step=lambda *args: {"returns": None}))
    with pytest.raises(TypeError, match="missing \\['policy_loss', 'value_loss'\\]"):
        trainer.step()
