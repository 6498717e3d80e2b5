"""Graded tests of module 08 (language models as policies): 8.1 the sampling distribution
(temperature, top-k), 8.2 the entropy per token, 8.3 the response mask up to the first EOS,
8.4 pad = EOS (find the bug), 8.5 the log-probability of a response, 8.6 the masked mean per
row, 8.7 temperature in sampling but not in training (find the bug), 8.8 the sampling loop, 8.9 nucleus (top-p) sampling."""

import numpy as np
import pytest
import torch

from rlhf_edu.grading.selfcheck import failure, given
from rlhf_edu.rlhf import generation
from rlhf_edu.rlhf.lm import sequence_logprob as reference_sequence_logprob


def random_batch(rng: np.random.Generator, batch: int, T: int, vocab: int):
    """Random logits, token ids and a response mask: a prompt of P_i tokens, then a response of
    R_i >= 1 tokens, then padding (mask 0)."""
    logits = torch.as_tensor(rng.normal(scale=2.0, size=(batch, T, vocab)), dtype=torch.float32)
    input_ids = torch.as_tensor(rng.integers(0, vocab, size=(batch, T)))
    mask = torch.zeros(batch, T, dtype=torch.long)
    for i in range(batch):
        prompt = int(rng.integers(1, T))
        end = int(rng.integers(prompt + 1, T + 1))
        mask[i, prompt:end] = 1
    return logits, input_ids, mask


@pytest.mark.graded(exercise="8.5", points=2)
def test_sequence_logprob_matches_reference_on_random_batches(solution, graded_rng):
    for _ in range(5):
        batch, T, vocab = int(graded_rng.integers(1, 5)), int(graded_rng.integers(2, 9)), 7
        logits, input_ids, mask = random_batch(graded_rng, batch, T, vocab)
        got = solution.sequence_logprob(logits, input_ids, mask)
        want = reference_sequence_logprob(logits, input_ids, mask)
        assert tuple(got.shape) == (batch,), f"expected shape {(batch,)}, got {tuple(got.shape)}"
        torch.testing.assert_close(got.float(), want, atol=1e-4, rtol=1e-4)


@pytest.mark.graded(exercise="8.5", points=1)
def test_masked_tokens_and_their_logits_do_not_count(solution, graded_rng):
    logits, input_ids, mask = random_batch(graded_rng, 3, 8, 5)
    before = solution.sequence_logprob(logits, input_ids, mask)
    changed_ids, changed_logits = input_ids.clone(), logits.clone()
    masked_positions = mask == 0
    masked_positions[:, 0] = True  # the first token is never predicted
    changed_ids[masked_positions] = (changed_ids[masked_positions] + 1) % 5
    # logits at t predict token t + 1: change the logits whose prediction is not counted
    predicts_masked = torch.zeros_like(mask, dtype=torch.bool)
    predicts_masked[:, :-1] = mask[:, 1:] == 0
    predicts_masked[:, -1] = True  # the last logits predict nothing
    changed_logits[predicts_masked] += 3.0 * torch.randn(int(predicts_masked.sum()), 5)
    after = solution.sequence_logprob(changed_logits, changed_ids, mask)
    assert tuple(after.shape) == (3,), f"expected shape (3,), got {tuple(after.shape)}"
    torch.testing.assert_close(
        after.float(),
        before.float(),
        atol=1e-5,
        rtol=1e-5,
        msg="prompt and padding tokens (mask 0), and the logits that predict them, must not count",
    )


@pytest.mark.graded(exercise="8.5", points=1)
def test_a_certain_response_has_log_probability_zero(solution, graded_rng):
    batch, T, vocab = 2, 6, 4
    input_ids = torch.as_tensor(graded_rng.integers(0, vocab, size=(batch, T)))
    logits = torch.full((batch, T, vocab), -30.0)
    for t in range(T - 1):
        logits[torch.arange(batch), t, input_ids[:, t + 1]] = 30.0  # each next token is certain
    mask = torch.ones(batch, T, dtype=torch.long)
    got = solution.sequence_logprob(logits, input_ids, mask)
    torch.testing.assert_close(got.float(), torch.zeros(batch), atol=1e-4, rtol=0)


# -- 8.1 the sampling distribution ----------------------------------------------------------------


@pytest.mark.graded(exercise="8.1", points=1)
def test_distribution_at_a_temperature_matches_the_reference(solution, graded_rng):
    logits = torch.tensor(graded_rng.normal(scale=2.0, size=(3, 4, 9)), dtype=torch.float32)
    for temperature in (
        float(graded_rng.uniform(0.3, 0.9)),
        1.0,
        float(graded_rng.uniform(1.5, 3)),
    ):
        got = solution.next_token_distribution(logits, temperature)
        want = generation.next_token_distribution(logits, temperature)
        assert tuple(got.shape) == tuple(logits.shape), (
            f"expected shape {tuple(logits.shape)}, got {tuple(got.shape)}"
        )
        if not torch.allclose(got.float(), want, atol=1e-5):
            flipped = generation.next_token_distribution(logits, 1 / temperature)
            hint = (
                " (multiplied by T instead of dividing?)"
                if torch.allclose(got.float(), flipped, atol=1e-5)
                else ""
            )
            pytest.fail(
                f"softmax(logits / T) differs from the reference at T = {temperature:.3g}{hint}"
            )


@pytest.mark.graded(exercise="8.1", points=1)
def test_top_k_keeps_exactly_the_k_largest_and_renormalises(solution, graded_rng):
    vocab = int(graded_rng.integers(6, 20))
    logits = torch.tensor(graded_rng.permutation(vocab) * 0.5, dtype=torch.float32)[None].repeat(
        2, 1
    )
    logits[1] = logits[1].flip(0)
    k = int(graded_rng.integers(1, vocab))
    temperature = float(graded_rng.uniform(0.5, 2.0))
    got = solution.next_token_distribution(logits, temperature, top_k=k)
    want = generation.next_token_distribution(logits, temperature, top_k=k)
    assert ((got > 0).sum(-1) == k).all(), (
        f"top_k={k} must leave exactly {k} tokens with probability > 0"
    )
    torch.testing.assert_close(
        got.float().sum(-1), torch.ones(2), msg="each row must sum to 1 (renormalise)"
    )
    torch.testing.assert_close(got.float(), want, atol=1e-5, rtol=1e-5)
    every = solution.next_token_distribution(logits, temperature, top_k=None)
    torch.testing.assert_close(
        every.float(), generation.next_token_distribution(logits, temperature), atol=1e-5, rtol=1e-5
    )


# -- 8.2 the entropy ------------------------------------------------------------------------------


@pytest.mark.graded(exercise="8.2", points=1)
def test_entropy_per_position_matches_the_reference(solution, graded_rng):
    logits = torch.tensor(graded_rng.normal(scale=2.0, size=(2, 5, 7)), dtype=torch.float32)
    temperature = float(graded_rng.uniform(0.4, 2.0))
    got = solution.token_entropy(logits, temperature)
    assert tuple(got.shape) == (2, 5), (
        f"one entropy per position: expected (2, 5), got {tuple(got.shape)}"
    )
    torch.testing.assert_close(
        got.float(), generation.token_entropy(logits, temperature), atol=1e-5, rtol=1e-5
    )


@pytest.mark.graded(exercise="8.2", points=1)
def test_entropy_is_log_v_for_uniform_and_zero_for_a_sure_token(solution, graded_rng):
    vocab = int(graded_rng.integers(3, 50))
    logits = torch.zeros(2, vocab)
    logits[1, int(graded_rng.integers(vocab))] = 1000.0
    got = solution.token_entropy(logits, 1.0)
    assert torch.isfinite(got).all(), (
        "NaN entropy: use log_softmax, not log(softmax(...)) (0 * log 0)"
    )
    torch.testing.assert_close(
        got.float(), torch.tensor([np.log(vocab), 0.0], dtype=torch.float32), atol=1e-4, rtol=0
    )


# -- 8.3 the response mask ------------------------------------------------------------------------


def sampled_rows(rng, batch, T, eos, pad, vocab=9):
    """Rows like a sampler's: tokens other than eos/pad, an EOS at a random step (or none), pads after."""
    ids = torch.as_tensor(rng.integers(2, vocab, size=(batch, T)))
    for i in range(batch):
        end = int(rng.integers(0, T + 1))  # T: the row never ended
        if end < T:
            ids[i, end] = eos
            ids[i, end + 1 :] = pad
    return ids


@pytest.mark.graded(exercise="8.3", points=1)
def test_response_mask_matches_the_reference_on_sampled_rows(solution, graded_rng):
    ids = sampled_rows(graded_rng, 6, int(graded_rng.integers(3, 10)), eos=0, pad=1)
    got = solution.response_mask(ids, 0)
    want = generation.response_mask(ids, 0)
    assert tuple(got.shape) == tuple(ids.shape), (
        f"expected shape {tuple(ids.shape)}, got {tuple(got.shape)}"
    )
    ends_included = bool(((got == 1) & (ids == 0)).any()) or not bool((ids == 0).any())
    assert ends_included, "the EOS token itself must be in the mask: emitting it was an action"
    torch.testing.assert_close(got.long(), want)


@pytest.mark.graded(exercise="8.3", points=1)
def test_response_mask_stops_at_the_first_eos_even_when_more_follow(solution, graded_rng):
    T = int(graded_rng.integers(5, 10))
    ids = torch.as_tensor(graded_rng.integers(2, 9, size=(2, T)))
    first = int(graded_rng.integers(0, T - 2))
    ids[0, first] = 0
    ids[0, first + 2] = 0  # a second EOS after the end (e.g. sampling did not stop)
    got = solution.response_mask(ids, 0)
    want = torch.ones(2, T, dtype=torch.long)
    want[0, first + 1 :] = 0
    torch.testing.assert_close(
        got.long(), want, msg="everything after the first EOS is outside the response"
    )


# -- 8.4 pad = EOS --------------------------------------------------------------------------------


@pytest.mark.graded(exercise="8.4", points=2)
def test_the_real_eos_counts_when_pad_is_eos(solution, graded_rng):
    batch, T = 5, int(graded_rng.integers(4, 10))
    ids = sampled_rows(graded_rng, batch, T, eos=0, pad=0)
    ids[0, : T - 2] = torch.as_tensor(graded_rng.integers(2, 9, size=T - 2))
    ids[0, T - 2 :] = 0  # row 0 surely ends with an EOS followed by one pad
    token_logprobs = torch.tensor(-graded_rng.random((batch, T)) * 3, dtype=torch.float32)
    got = solution.response_logprob_sum(token_logprobs, ids, 0)
    want = generation.response_logprob_sum(token_logprobs, ids, 0)
    buggy = (token_logprobs * (ids != 0).float()).sum(-1)
    assert tuple(got.shape) == (batch,), f"expected shape ({batch},), got {tuple(got.shape)}"
    if torch.allclose(got.float(), buggy) and not torch.allclose(buggy, want):
        pytest.fail(
            "the end token is dropped with the padding: pad = EOS, so ids != pad masks the real EOS too"
        )
    torch.testing.assert_close(
        got.float(),
        want,
        atol=1e-5,
        rtol=1e-5,
        msg="the first pad/EOS of a row counts, the later ones do not",
    )


# -- 8.6 the masked mean --------------------------------------------------------------------------


@pytest.mark.graded(exercise="8.6", points=1)
def test_per_token_mean_matches_the_reference_and_an_empty_row_is_zero(solution, graded_rng):
    batch, T = 4, int(graded_rng.integers(3, 9))
    values = torch.tensor(graded_rng.normal(size=(batch, T)), dtype=torch.float32)
    mask = torch.as_tensor(graded_rng.random((batch, T)) < 0.6).long()
    mask[0] = 0
    mask[1, 0] = 1
    got = solution.per_token_mean(values, mask)
    assert tuple(got.shape) == (batch,), (
        f"one mean per row: expected ({batch},), got {tuple(got.shape)}"
    )
    assert torch.isfinite(got).all(), (
        "a row with no masked-in token must give 0, not NaN (clamp the count)"
    )
    torch.testing.assert_close(
        got.float(), generation.per_token_mean(values, mask), atol=1e-5, rtol=1e-5
    )


# -- 8.7 temperature ------------------------------------------------------------------------------


@pytest.mark.graded(exercise="8.7", points=2)
def test_samples_at_temperature_are_scored_at_that_temperature(solution, graded_rng):
    batch, T, vocab = 3, int(graded_rng.integers(2, 7)), 6
    logits = torch.tensor(graded_rng.normal(scale=2.0, size=(batch, T, vocab)), dtype=torch.float32)
    temperature = float(graded_rng.choice([0.5, 0.7, 1.5]))
    probs = torch.softmax(logits / temperature, -1)
    generator = torch.Generator().manual_seed(int(graded_rng.integers(2**31)))
    ids = torch.multinomial(probs.reshape(-1, vocab), 1, generator=generator).reshape(batch, T)
    mask = torch.ones(batch, T, dtype=torch.long)
    mask[0, T - 1] = 0
    sampler_logprobs = torch.log(probs).gather(-1, ids[..., None]).squeeze(-1) * mask
    got = solution.response_token_logprobs(logits, ids, mask, temperature)
    at_one = torch.log_softmax(logits, -1).gather(-1, ids[..., None]).squeeze(-1) * mask
    assert tuple(got.shape) == (batch, T), f"expected shape ({batch}, {T}), got {tuple(got.shape)}"
    if torch.allclose(got.float(), at_one, atol=1e-5):
        pytest.fail(
            f"the samples were drawn at temperature {temperature} but scored at 1: the first PPO "
            "ratio is not 1 (temperature applied in sampling but not in training)"
        )
    ratio = torch.exp(got.float() - sampler_logprobs)
    torch.testing.assert_close(
        ratio,
        torch.ones_like(ratio),
        atol=1e-4,
        rtol=0,
        msg="before any update the ratio to the sampling distribution must be 1 (masked positions: 0)",
    )


# 8.8 the sampling loop ------------------------------------------------------------------------
def tiny_random_lm(seed: int, vocab: int, scale: float = 40.0):
    """A random 1-layer GPT-2 over a tiny vocabulary (dropout 0), in eval mode."""
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(vocab_size=vocab, n_positions=64, n_embd=16, n_layer=1, n_head=2,
                        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)  # fmt: skip
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(config).eval()
    with torch.no_grad():  # larger weights: distributions far from uniform
        model.transformer.wte.weight.mul_(scale)
    return model


def sampling_case(rng: np.random.Generator, vocab: int, scale: float = 40.0):
    model = tiny_random_lm(int(rng.integers(2**31 - 1)), vocab, scale)
    batch, length = int(rng.integers(2, 7)), int(rng.integers(1, 5))
    prompt_ids = torch.as_tensor(rng.integers(2, vocab, size=(batch, length)))
    temperature = float(rng.choice([0.5, 1.0, 1.7]))
    seed = int(rng.integers(10_000))
    return model, prompt_ids, temperature, seed


@pytest.mark.graded(
    exercise="8.8",
    points=2,
    checks="tokens and log-probs equal the reference loop's, seeded, with and without top-k",
    hint="probs = next_token_distribution(logits of the last position, temperature, top_k); "
    "torch.multinomial(probs, 1, generator=torch.Generator().manual_seed(seed)) for every row; "
    "the log-prob is log probs[token] under that same distribution",
)
def test_sample_tokens_matches_the_reference(solution, graded_rng):
    from rlhf_edu.rlhf.sampling import sample_tokens as reference_sample_tokens

    for top_k in (None, 3):
        model, prompt_ids, temperature, seed = sampling_case(graded_rng, vocab=11)
        given(f"a random tiny GPT-2 (11 tokens, EOS 0, pad 1), {tuple(prompt_ids.shape)} prompts, "
              f"temperature {temperature}, top_k={top_k}, 12 new tokens, seed {seed}")  # fmt: skip
        got_ids, got_logprobs = solution.sample_tokens(
            model, prompt_ids, 12, temperature, top_k, 0, 1, seed
        )
        want_ids, want_logprobs = reference_sample_tokens(
            model, prompt_ids, 12, temperature, top_k, 0, 1, seed
        )
        assert torch.equal(torch.as_tensor(got_ids), want_ids), failure(
            f"the sampled tokens differ (got {torch.as_tensor(got_ids)[0].tolist()}, expected "
            f"{want_ids[0].tolist()} in row 0)",
            "one torch.multinomial draw per step for all rows (finished ones too), from the "
            "distribution of the LAST position's logits; one generator for the whole loop",
        )
        torch.testing.assert_close(
            torch.as_tensor(got_logprobs).float(),
            want_logprobs,
            atol=1e-5,
            rtol=1e-5,
            msg=(
                "the log-probs differ: with top-k they are taken under the renormalised top-k "
                "distribution the token was drawn from, not the full softmax"
                if top_k is not None
                else "the log-probs differ: log probs[token] at the sampling temperature, 0 after EOS"
            ),
        )


@pytest.mark.graded(
    exercise="8.8",
    points=1,
    checks="after a row's EOS come pad tokens with log-prob 0, and the loop stops once all rows "
    "have ended",
    hint="token.masked_fill(finished, pad_token_id), logprob.masked_fill(finished, 0.0); update "
    "`finished` after recording the step; break when finished.all()",
)
def test_sample_tokens_pads_after_eos_and_stops_early(solution, graded_rng):
    from rlhf_edu.rlhf.sampling import sample_tokens as reference_sample_tokens

    # near-uniform over 3 tokens: EOS about one draw in three, so every row ends early
    model, prompt_ids, temperature, seed = sampling_case(graded_rng, vocab=3, scale=1.0)
    given(f"a random tiny GPT-2 over 3 tokens (EOS 0, pad 1), {tuple(prompt_ids.shape)} prompts, "
          f"temperature {temperature}, up to 40 new tokens, seed {seed}")  # fmt: skip
    got_ids, got_logprobs = solution.sample_tokens(
        model, prompt_ids, 40, temperature, None, 0, 1, seed
    )
    want_ids, want_logprobs = reference_sample_tokens(
        model, prompt_ids, 40, temperature, None, 0, 1, seed
    )
    got_ids = torch.as_tensor(got_ids)
    assert want_ids.shape[1] < 40
    assert got_ids.shape == want_ids.shape, failure(
        f"got {tuple(got_ids.shape)} tokens, expected {tuple(want_ids.shape)}",
        "stop as soon as every row has emitted EOS (T <= max_new_tokens)",
    )
    assert torch.equal(got_ids, want_ids), "the tokens differ: pad_token_id after each row's EOS"
    torch.testing.assert_close(torch.as_tensor(got_logprobs).float(), want_logprobs,
                               atol=1e-5, rtol=1e-5,
                               msg="log-prob 0 after EOS; the EOS itself keeps its log-prob")  # fmt: skip


@pytest.mark.graded(
    exercise="8.8",
    points=1,
    checks="without top-k, the returned log-probs equal a teacher-forced rescoring at the "
    "sampling temperature (PPO's first ratio is 1)",
    hint="the log-prob of the draw is log softmax(logits / temperature)[token]: the temperature "
    "belongs in it too",
)
def test_sample_tokens_logprobs_match_a_rescoring_pass(solution, graded_rng):
    model, prompt_ids, temperature, seed = sampling_case(graded_rng, vocab=9)
    temperature = 0.6
    given(f"a random tiny GPT-2 (9 tokens), {tuple(prompt_ids.shape)} prompts, temperature 0.6, "
          f"10 new tokens, seed {seed}")  # fmt: skip
    ids, logprobs = solution.sample_tokens(model, prompt_ids, 10, temperature, None, 0, 1, seed)
    ids = torch.as_tensor(ids)
    with torch.no_grad():
        logits = model(torch.cat([prompt_ids, ids], dim=1)).logits[:, prompt_ids.shape[1] - 1 : -1]
    mask = generation.response_mask(ids, 0)
    rescored = generation.response_token_logprobs(logits, ids, mask, temperature)
    torch.testing.assert_close(
        torch.as_tensor(logprobs).float() * mask,
        rescored.float(),
        atol=1e-4,
        rtol=1e-4,
        msg="the sampled log-probs differ from log softmax(logits / T) of a forward pass over "
        "prompt + response: temperature missing from the log-prob, or the wrong position's logits?",
    )


# 8.9 nucleus sampling -------------------------------------------------------------------------
@pytest.mark.graded(
    exercise="8.9",
    points=2,
    checks="the nucleus distribution equals the reference's on random logits, temperatures and "
    "top_p values, batched",
    hint="keep a token when the probability ranked strictly above it is below top_p; "
    "renormalise; put the probabilities back in vocabulary order",
)
def test_top_p_distribution_matches_the_reference(solution, graded_rng):
    from rlhf_edu.rlhf.sampling import top_p_distribution as reference_top_p

    for _ in range(6):
        shape = (int(graded_rng.integers(1, 4)), int(graded_rng.integers(1, 4)), 9)
        logits = torch.as_tensor(graded_rng.normal(scale=2.0, size=shape), dtype=torch.float32)
        temperature = float(graded_rng.choice([0.5, 1.0, 2.0]))
        top_p = float(graded_rng.choice([0.3, 0.6, 0.85, 0.95, 1.0]))
        given(f"random logits of shape {shape}, temperature {temperature}, top_p {top_p}")
        got = torch.as_tensor(solution.top_p_distribution(logits, temperature, top_p)).float()
        want = reference_top_p(logits, temperature, top_p)
        assert got.shape == want.shape, f"shape {tuple(got.shape)}, expected {tuple(want.shape)}"
        kept_got, kept_want = (got > 0).sum(-1), (want > 0).sum(-1)
        assert torch.equal(kept_got, kept_want), failure(
            f"kept {kept_got.flatten().tolist()} tokens per row, expected "
            f"{kept_want.flatten().tolist()}",
            "one token too many or too few: compare the mass ranked ABOVE each token (cumsum "
            "minus itself) with top_p"
            if (kept_got - kept_want).abs().max() == 1
            else "sort each row in descending order and keep its top of the ranking",
        )
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5,
                                   msg="renormalise the kept probabilities (each row sums to 1)")  # fmt: skip


@pytest.mark.graded(
    exercise="8.9",
    points=1,
    checks="the top token is always kept, top_p = 1 keeps the whole softmax, and top_p outside "
    "(0, 1] raises ValueError",
    hint="a tiny top_p keeps exactly the most probable token (probability 1); top_p = 1 is the "
    "plain softmax at that temperature",
)
def test_top_p_distribution_edge_cases(solution, graded_rng):
    logits = torch.as_tensor(graded_rng.normal(size=(4, 7)), dtype=torch.float32)
    given("random logits (4, 7), top_p 1e-6 and 1.0 at temperature 0.8")
    tiny = torch.as_tensor(solution.top_p_distribution(logits, 0.8, 1e-6)).float()
    torch.testing.assert_close(tiny, torch.nn.functional.one_hot(logits.argmax(-1), 7).float(),
                               msg="a tiny top_p keeps only the most probable token")  # fmt: skip
    full = torch.as_tensor(solution.top_p_distribution(logits, 0.8, 1.0)).float()
    torch.testing.assert_close(full, torch.softmax(logits / 0.8, -1), atol=1e-6, rtol=1e-5,
                               msg="top_p = 1 keeps every token: the softmax at T = 0.8")  # fmt: skip
    for bad in (0.0, 1.5):
        given(f"top_p = {bad}")
        with pytest.raises(ValueError):
            solution.top_p_distribution(logits, 1.0, bad)
