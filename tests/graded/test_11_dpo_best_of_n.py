"""Graded tests of module 11 (DPO and best-of-n): exercises 11.1-11.8."""

import functools
import math

import numpy as np
import pytest
import torch
from transformers import GPT2LMHeadModel

from rlhf_edu.rlhf.best_of_n import best_of_n_distribution as reference_best_of_n_distribution
from rlhf_edu.rlhf.best_of_n import best_of_n_kl as reference_best_of_n_kl
from rlhf_edu.rlhf.best_of_n import best_of_n_pick as reference_best_of_n_pick
from rlhf_edu.rlhf.corpus import generate_corpus
from rlhf_edu.rlhf.dpo import dpo_loss as reference_dpo_loss
from rlhf_edu.rlhf.dpo import dpo_step as reference_dpo_step
from rlhf_edu.rlhf.dpo import implicit_reward as reference_implicit_reward
from rlhf_edu.rlhf.dpo import kl_regularized_objective as reference_kl_regularized_objective
from rlhf_edu.rlhf.dpo import optimal_kl_policy as reference_optimal_kl_policy
from rlhf_edu.rlhf.dpo import response_logprobs
from rlhf_edu.rlhf.lm import tiny_gpt2_config, train_tokenizer


def randn(rng: np.random.Generator, *shape: int) -> torch.Tensor:
    return torch.as_tensor(rng.normal(size=shape) * 5, dtype=torch.float32)


@pytest.mark.graded(exercise="11.4", points=2)
def test_dpo_loss_matches_reference_on_random_log_probs(solution, graded_rng):
    for _ in range(6):
        n = int(graded_rng.integers(1, 17))
        args = [randn(graded_rng, n) for _ in range(4)]
        beta = float(graded_rng.uniform(0.01, 1.0))
        got = solution.dpo_loss(*args, beta)
        want = reference_dpo_loss(*args, beta)
        assert got.ndim == 0, "dpo_loss returns the mean over the batch (a scalar tensor)"
        assert float(got) == pytest.approx(float(want), rel=1e-5, abs=1e-6)


@pytest.mark.graded(exercise="11.4", points=1)
def test_dpo_loss_is_log2_at_the_reference_and_stable_for_large_margins(solution, graded_rng):
    lp = randn(graded_rng, 8)
    other = randn(graded_rng, 8)
    beta = float(graded_rng.uniform(0.05, 0.5))
    assert float(solution.dpo_loss(lp, other, lp, other, beta)) == pytest.approx(math.log(2))
    big = torch.full((3,), 1e4)
    zero = torch.zeros(3)
    loss = solution.dpo_loss(zero, big, zero, zero, beta)  # rejected far more likely: huge loss
    assert math.isfinite(float(loss)) and float(loss) == pytest.approx(beta * 1e4, rel=1e-4)
    pc = randn(graded_rng, 4).requires_grad_()
    solution.dpo_loss(
        pc, zero[:1].expand(4), zero[:1].expand(4), zero[:1].expand(4), beta
    ).backward()
    expected = -beta * torch.sigmoid(-beta * pc.detach()) / 4
    torch.testing.assert_close(pc.grad, expected, atol=1e-6, rtol=1e-4)


@pytest.mark.graded(exercise="11.7", points=1)
def test_best_of_n_kl_matches_the_closed_form(solution, graded_rng):
    for n in [1, 2, *graded_rng.integers(3, 1000, size=5).tolist()]:
        assert solution.best_of_n_kl(int(n)) == pytest.approx(reference_best_of_n_kl(int(n)))
    assert solution.best_of_n_kl(1) == pytest.approx(0.0)


# 11.1-11.3: the KL-regularised optimum on a small discrete problem ------------------------------
def discrete_problem(rng: np.random.Generator, k: int | None = None):
    k = k or int(rng.integers(3, 9))
    ref_probs = rng.dirichlet(np.ones(k))
    rewards = rng.normal(scale=2.0, size=k)
    beta = float(rng.uniform(0.2, 2.0))
    return ref_probs, rewards, beta


@pytest.mark.graded(exercise="11.1", points=1)
def test_kl_regularized_objective_matches_reference(solution, graded_rng):
    for _ in range(5):
        ref_probs, rewards, beta = discrete_problem(graded_rng)
        probs = graded_rng.dirichlet(np.ones(ref_probs.size))
        got = float(solution.kl_regularized_objective(probs, ref_probs, rewards, beta))
        want = reference_kl_regularized_objective(probs, ref_probs, rewards, beta)
        assert got == pytest.approx(want, rel=1e-9, abs=1e-12)


@pytest.mark.graded(exercise="11.1", points=1)
def test_kl_regularized_objective_treats_zero_probabilities_as_zero_cost(solution, graded_rng):
    ref_probs, rewards, beta = discrete_problem(graded_rng)
    at_ref = float(solution.kl_regularized_objective(ref_probs, ref_probs, rewards, beta))
    assert at_ref == pytest.approx(float(ref_probs @ rewards)), "pi = pi_ref: KL 0, J = E_ref[r]"
    one_hot = np.zeros(ref_probs.size)
    best = int(np.argmax(rewards))
    one_hot[best] = 1.0
    got = float(solution.kl_regularized_objective(one_hot, ref_probs, rewards, beta))
    want = rewards[best] - beta * math.log(1 / ref_probs[best])
    assert math.isfinite(got) and got == pytest.approx(want), (
        "responses with pi_k = 0 contribute 0 (0 log 0 = 0), not nan"
    )


@pytest.mark.graded(exercise="11.2", points=1)
def test_optimal_kl_policy_matches_reference(solution, graded_rng):
    for _ in range(5):
        ref_probs, rewards, beta = discrete_problem(graded_rng)
        got = np.asarray(solution.optimal_kl_policy(ref_probs, rewards, beta), dtype=float)
        np.testing.assert_allclose(
            got, reference_optimal_kl_policy(ref_probs, rewards, beta), atol=1e-10
        )


@pytest.mark.graded(exercise="11.2", points=1)
def test_optimal_kl_policy_beats_every_perturbation(solution, graded_rng):
    ref_probs, rewards, beta = discrete_problem(graded_rng)
    pi_star = np.asarray(solution.optimal_kl_policy(ref_probs, rewards, beta), dtype=float)
    assert pi_star.sum() == pytest.approx(1.0), "pi* is a distribution: divide by Z"
    j_star = reference_kl_regularized_objective(pi_star, ref_probs, rewards, beta)
    for _ in range(200):
        logits = np.log(pi_star) + graded_rng.normal(scale=0.2, size=pi_star.size)
        q = np.exp(logits - logits.max())
        q /= q.sum()
        assert reference_kl_regularized_objective(q, ref_probs, rewards, beta) <= j_star + 1e-12, (
            "a perturbed policy scores higher: is it pi_ref * exp(r / beta) (not exp(beta * r))?"
        )


@pytest.mark.graded(exercise="11.2", points=1)
def test_optimal_kl_policy_is_stable_for_small_beta(solution, graded_rng):
    ref_probs, rewards, _ = discrete_problem(graded_rng)
    beta = float(graded_rng.uniform(1e-3, 3e-3))
    got = np.asarray(solution.optimal_kl_policy(ref_probs, rewards, beta), dtype=float)
    assert np.all(np.isfinite(got)), "exp(r / beta) overflows: subtract the maximum logit first"
    assert got[int(np.argmax(rewards))] == pytest.approx(1.0, abs=1e-6)


@pytest.mark.graded(exercise="11.3", points=1)
def test_implicit_reward_matches_reference(solution, graded_rng):
    for _ in range(5):
        ref_probs, _, beta = discrete_problem(graded_rng)
        probs = graded_rng.dirichlet(np.ones(ref_probs.size))
        got = np.asarray(solution.implicit_reward(probs, ref_probs, beta), dtype=float)
        np.testing.assert_allclose(
            got, reference_implicit_reward(probs, ref_probs, beta), atol=1e-10
        )


@pytest.mark.graded(exercise="11.3", points=1)
def test_implicit_reward_of_the_optimal_policy_is_the_reward_up_to_a_constant(solution, graded_rng):
    ref_probs, rewards, beta = discrete_problem(graded_rng)
    pi_star = reference_optimal_kl_policy(ref_probs, rewards, beta)
    got = np.asarray(solution.implicit_reward(pi_star, ref_probs, beta), dtype=float)
    log_z = math.log(float(np.sum(ref_probs * np.exp(rewards / beta))))
    np.testing.assert_allclose(
        got - rewards,
        np.full(rewards.size, -beta * log_z),
        atol=1e-8,
        err_msg="beta * log(pi* / pi_ref) must equal r - beta log Z: check the sign and the beta",
    )


# 11.5: the DPO training step -----------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def tiny_tokenizer():
    """A byte-level BPE tokenizer (300 tokens) with pad distinct from EOS (no cached build)."""
    return train_tokenizer(generate_corpus(300, seed=0), vocab_size=300)


def tiny_policy(seed: int) -> GPT2LMHeadModel:
    """A random 1-layer, 32-wide GPT-2 over tiny_tokenizer's vocabulary."""
    config = tiny_gpt2_config(tiny_tokenizer(), n_layer=1, n_embd=32, n_head=2, n_positions=64)
    torch.manual_seed(seed)
    return GPT2LMHeadModel(config).eval()


def dpo_batch(rng: np.random.Generator, tokenizer, ref_seed: int) -> dict:
    words = [" good", " bad", " room", " food", " was", " great", " awful", " the", " staff"]
    prompts_pool = ["Review of the hotel:", "Thoughts on the gym:", "A"]
    n = int(rng.integers(2, 5))

    def sentence() -> str:
        return "".join(words[int(i)] for i in rng.integers(0, len(words), size=rng.integers(1, 5)))

    prompts = [prompts_pool[int(i)] for i in rng.integers(0, 3, size=n)]
    chosen, rejected = [sentence() for _ in range(n)], [sentence() for _ in range(n)]
    with torch.no_grad():
        reference = tiny_policy(seed=ref_seed)
        ref_chosen = response_logprobs(reference, tokenizer, prompts, chosen)
        ref_rejected = response_logprobs(reference, tokenizer, prompts, rejected)
    return {
        "prompts": prompts,
        "chosen": chosen,
        "rejected": rejected,
        "ref_chosen_logps": ref_chosen,
        "ref_rejected_logps": ref_rejected,
    }


def policy_and_adam(seed: int):
    policy = tiny_policy(seed=seed)
    return policy, torch.optim.Adam(policy.parameters(), lr=1e-2)


@pytest.mark.graded(exercise="11.5", points=2)
def test_dpo_step_matches_the_reference_step(solution, graded_rng):
    tokenizer = tiny_tokenizer()
    for trial in range(2):
        seed, ref_seed = (int(x) for x in graded_rng.integers(0, 1000, size=2))
        batch = dpo_batch(graded_rng, tokenizer, ref_seed)
        beta = float(graded_rng.uniform(0.05, 1.0))
        max_grad_norm = None if trial else 1.0
        policy, optimizer = policy_and_adam(seed)
        got = solution.dpo_step(policy, tokenizer, optimizer, batch, beta, max_grad_norm)
        policy, optimizer = policy_and_adam(seed)
        want = reference_dpo_step(policy, tokenizer, optimizer, batch, beta, max_grad_norm)
        for key in ("loss", "accuracy", "margin"):
            assert float(got[key]) == pytest.approx(want[key], rel=1e-4, abs=1e-5), (
                f"{key}: summed response log-probs of the policy (with EOS, via "
                "response_logprobs), the batch's reference log-probs, your dpo_loss; measured "
                "before the optimizer step"
            )


@pytest.mark.graded(exercise="11.5", points=1)
def test_dpo_step_at_the_reference_gives_log_2_and_no_margin(solution, graded_rng):
    tokenizer = tiny_tokenizer()
    seed = int(graded_rng.integers(0, 1000))
    batch = dpo_batch(graded_rng, tokenizer, ref_seed=seed)  # policy == reference
    beta = float(graded_rng.uniform(0.05, 1.0))
    policy, optimizer = policy_and_adam(seed)
    got = solution.dpo_step(policy, tokenizer, optimizer, batch, beta)
    assert float(got["loss"]) == pytest.approx(math.log(2), abs=1e-4), (
        "while the policy equals the frozen reference the loss is log 2"
    )
    assert float(got["margin"]) == pytest.approx(0.0, abs=1e-4)


@pytest.mark.graded(exercise="11.5", points=1)
def test_dpo_step_uses_summed_not_mean_log_probs(solution, graded_rng):
    tokenizer = tiny_tokenizer()
    seed = int(graded_rng.integers(0, 1000))
    batch = dpo_batch(graded_rng, tokenizer, ref_seed=seed + 1)
    batch["ref_chosen_logps"] = torch.zeros(len(batch["prompts"]))
    batch["ref_rejected_logps"] = torch.zeros(len(batch["prompts"]))
    beta = float(graded_rng.uniform(0.05, 0.5))
    with torch.no_grad():
        policy = tiny_policy(seed=seed)
        summed_c = response_logprobs(policy, tokenizer, batch["prompts"], batch["chosen"])
        summed_r = response_logprobs(policy, tokenizer, batch["prompts"], batch["rejected"])
    policy, optimizer = policy_and_adam(seed)
    got = solution.dpo_step(policy, tokenizer, optimizer, batch, beta)
    assert float(got["margin"]) == pytest.approx(
        float(beta * (summed_c - summed_r).mean()), rel=1e-4, abs=1e-5
    ), "the margin is beta * (log pi(chosen) - log pi(rejected)) with log-probs summed over tokens"


# 11.6-11.8: best-of-n ------------------------------------------------------------------------
@pytest.mark.graded(exercise="11.6", points=1)
def test_best_of_n_pick_matches_reference(solution, graded_rng):
    prompts, n = int(graded_rng.integers(1, 6)), int(graded_rng.integers(1, 6))
    candidates = [[f"response {p}.{i}" for i in range(n)] for p in range(prompts)]
    scores = torch.as_tensor(graded_rng.normal(size=(prompts, n)), dtype=torch.float32)
    responses, best = solution.best_of_n_pick(candidates, scores)
    want_responses, want_best = reference_best_of_n_pick(candidates, scores)
    assert list(responses) == want_responses
    np.testing.assert_allclose(np.asarray(best, dtype=float), want_best, rtol=1e-6)


@pytest.mark.graded(exercise="11.6", points=1)
def test_best_of_n_pick_takes_the_first_candidate_on_a_tie(solution, graded_rng):
    value = float(graded_rng.normal())
    scores = torch.tensor([[value - 1.0, value, value], [value, value, value - 2.0]])
    responses, best = solution.best_of_n_pick([["a", "b", "c"], ["d", "e", "f"]], scores)
    assert list(responses) == ["b", "d"], "on a tie keep the first of the best candidates"
    np.testing.assert_allclose(np.asarray(best, dtype=float), [value, value], rtol=1e-6)


@pytest.mark.graded(exercise="11.8", points=1)
def test_best_of_n_distribution_matches_reference(solution, graded_rng):
    for n in (1, *graded_rng.integers(2, 40, size=3).tolist()):
        ref_probs, rewards, _ = discrete_problem(graded_rng)
        got = np.asarray(solution.best_of_n_distribution(ref_probs, rewards, int(n)), dtype=float)
        want = reference_best_of_n_distribution(ref_probs, rewards, int(n))
        np.testing.assert_allclose(got, want, atol=1e-10)


@pytest.mark.graded(exercise="11.8", points=2)
def test_best_of_n_distribution_matches_a_simulation_and_stays_below_the_bound(
    solution, graded_rng
):
    ref_probs, rewards, _ = discrete_problem(graded_rng, k=5)
    n = int(graded_rng.integers(2, 6))
    got = np.asarray(solution.best_of_n_distribution(ref_probs, rewards, n), dtype=float)
    draws = graded_rng.choice(ref_probs.size, p=ref_probs, size=(40_000, n))
    winners = draws[np.arange(draws.shape[0]), np.argmax(rewards[draws], axis=1)]
    simulated = np.bincount(winners, minlength=ref_probs.size) / draws.shape[0]
    np.testing.assert_allclose(got, simulated, atol=0.012, err_msg="P(k) = F(k)^n - F(k-)^n")
    support = got > 0
    kl = float(np.sum(got[support] * np.log(got[support] / ref_probs[support])))
    assert kl <= reference_best_of_n_kl(n) + 1e-9, "the exact KL never exceeds log n - (n-1)/n"
