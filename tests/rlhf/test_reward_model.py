"""The Bradley-Terry reward model: loss, accuracy, reading position, training, resume, save/load."""

import math

import numpy as np
import pytest
import torch

from rlhf_edu.rlhf.lm import encode_prompt_response, load_tiny_lm
from rlhf_edu.rlhf.preferences import PreferencePair, make_synthetic_pairs
from rlhf_edu.rlhf.reward_model import (
    BagOfWordsRewardModel,
    RewardModel,
    RewardModelConfig,
    accuracy_vs_pairs,
    bradley_terry_loss,
    evaluate_reward_model,
    pairwise_accuracy,
    reward_model_step,
    train_reward_model,
)

torch.set_num_threads(1)  # several threads on a shared 2-core machine thrash


@pytest.fixture(scope="module")
def tiny_lm():
    return load_tiny_lm()


@pytest.fixture()
def reward_model(tiny_lm):
    torch.manual_seed(0)
    return RewardModel.from_lm(*tiny_lm)


def test_bradley_terry_loss_is_log_two_for_equal_rewards_and_follows_the_formula():
    r = torch.tensor([0.3, -1.0, 2.0])
    assert bradley_terry_loss(r, r).item() == pytest.approx(math.log(2))
    r_c, r_r = torch.tensor([2.0, 0.0]), torch.tensor([1.0, 1.0])
    expected = -(torch.log(torch.sigmoid(torch.tensor([1.0 - 0.5, -1.0 - 0.5])))).mean()
    assert bradley_terry_loss(r_c, r_r, margin=0.5).item() == pytest.approx(expected.item())
    with pytest.raises(ValueError, match="same shape"):
        bradley_terry_loss(torch.zeros(3), torch.zeros(2))


def test_bradley_terry_loss_is_stable_for_large_gaps():
    loss = bradley_terry_loss(torch.tensor([-200.0]), torch.tensor([200.0]))
    assert torch.isfinite(loss) and loss.item() == pytest.approx(400.0)


def test_pairwise_accuracy_counts_wins_and_half_ties():
    r_c, r_r = torch.tensor([1.0, 0.0, 2.0, 5.0]), torch.tensor([0.0, 1.0, 2.0, 4.0])
    assert pairwise_accuracy(r_c, r_r) == pytest.approx((1 + 0 + 0.5 + 1) / 4)
    with pytest.raises(ValueError, match="at least one pair"):
        pairwise_accuracy(torch.zeros(0), torch.zeros(0))


def test_head_starts_small_and_dropout_is_off(reward_model):
    d_model = reward_model.backbone.config.n_embd
    assert reward_model.head.weight.std().item() < 3 / math.sqrt(d_model + 1)
    assert all(m.p == 0 for m in reward_model.modules() if isinstance(m, torch.nn.Dropout))
    assert not reward_model.training


def test_score_is_read_at_the_last_real_token_whatever_the_padding(reward_model):
    tokenizer = reward_model.tokenizer
    prompts = ["Review of the hotel:", "Thoughts on the gym:"]
    responses = [" The room was clean.", " I loved the class. The trainer was very friendly."]
    with torch.no_grad():
        scores = {}
        for side in ("left", "right"):
            batch = encode_prompt_response(tokenizer, prompts, responses, padding_side=side)
            scores[side] = reward_model(batch["input_ids"], batch["attention_mask"])
        alone = encode_prompt_response(tokenizer, prompts[:1], responses[:1])
        single = reward_model(alone["input_ids"], alone["attention_mask"])
    torch.testing.assert_close(scores["left"], scores["right"], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(single, scores["right"][:1], atol=1e-5, rtol=1e-5)
    # the string API appends EOS and gives the same raw numbers
    torch.testing.assert_close(reward_model.raw_scores(prompts, responses), scores["right"])


def test_normalization_gives_mean_zero_std_one_on_the_reference_samples(reward_model):
    pairs = make_synthetic_pairs("mix", 40, seed=0)
    prompts, responses = [p.prompt for p in pairs], [p.chosen for p in pairs]
    reward_model.normalize_under(prompts, responses)
    scores = reward_model.score(prompts, responses)
    assert scores.mean().item() == pytest.approx(0.0, abs=1e-4)
    assert scores.std().item() == pytest.approx(1.0, abs=1e-4)
    with pytest.raises(TypeError, match="lists of strings"):
        reward_model.score("Review of the hotel:", " The bed was fine.")


def test_save_then_load_gives_the_same_scores(reward_model, tmp_path):
    reward_model.set_normalization(0.25, 2.0)
    prompts, responses = ["Review of the bakery:"], [" The bread was fresh."]
    reward_model.save(tmp_path / "rm", metadata={"note": "test"})
    loaded = RewardModel.load(tmp_path / "rm")
    torch.testing.assert_close(
        loaded.score(prompts, responses), reward_model.score(prompts, responses)
    )
    assert RewardModel.metadata(tmp_path / "rm") == {"note": "test"}
    with pytest.raises(FileNotFoundError, match="no reward model"):
        RewardModel.load(tmp_path)


def test_training_lowers_the_loss_on_the_training_pairs(tiny_lm):
    pairs = make_synthetic_pairs("sentiment", 64, seed=0)
    config = RewardModelConfig(epochs=3, batch_size=16, lr=1e-3, warmup_steps=2, eval_every=4)
    model, history = train_reward_model(pairs, config, eval_pairs=pairs, lm=tiny_lm, seed=0)
    evals = [row for row in history.rows if "eval_loss" in row]
    assert evals[-1]["eval_loss"] < evals[0]["eval_loss"]
    assert evaluate_reward_model(model, pairs)["accuracy"] > 0.6
    assert {"step", "loss", "eval_accuracy", "eval_margin"} <= set(history.columns)


def test_resuming_from_a_checkpoint_gives_the_uninterrupted_result(tiny_lm, tmp_path):
    pairs = make_synthetic_pairs("mix", 24, seed=1)
    eval_pairs = make_synthetic_pairs("mix", 8, seed=2)
    config = RewardModelConfig(epochs=2, batch_size=8, eval_every=100, checkpoint_every=1)
    kwargs = dict(eval_pairs=eval_pairs, lm=tiny_lm, seed=3)
    reference, _ = train_reward_model(pairs, config, **kwargs)
    train_reward_model(pairs, config, checkpoint_dir=tmp_path, **kwargs)
    for path in sorted(tmp_path.glob("ckpt-*.pt"))[1:]:  # "crash" after step 4 of 6
        path.unlink()
    resumed, history = train_reward_model(
        pairs, config, checkpoint_dir=tmp_path, resume=True, **kwargs
    )
    for a, b in zip(reference.state_dict().values(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b)
    assert history["step"] == [1, 2, 3, 4, 5, 6]


def test_config_and_inputs_are_validated(tiny_lm):
    with pytest.raises(ValueError, match=r"lr must be in \(0.0, inf\]"):
        RewardModelConfig(lr=0.0)
    with pytest.raises(ValueError, match="batch_size must be an int >= 1"):
        RewardModelConfig(batch_size=0)
    with pytest.raises(TypeError, match="batch_size must be an int"):
        RewardModelConfig(batch_size=2.0)
    with pytest.raises(TypeError, match="lr must be a number"):
        RewardModelConfig(lr="fast")
    with pytest.raises(ValueError, match="at least 2 preference pairs"):
        train_reward_model([PreferencePair("p", "a", "b")], lm=tiny_lm)


@pytest.mark.slow
def test_default_reward_model_is_within_two_points_of_the_bayes_optimal_accuracy():
    from rlhf_edu.rlhf.reward_model import default_reward_model_dir, load_default_reward_model

    model = load_default_reward_model()  # trained once into the shared cache (about a minute)
    info = RewardModel.metadata(default_reward_model_dir())
    assert info["n_eval_pairs"] >= 4000 and info["labeler"] == "mix"
    assert 0.75 < info["bayes_optimal_accuracy"] < 0.85
    assert info["bayes_optimal_accuracy"] - info["accuracy"] < 0.02
    assert info["expected_accuracy"] <= info["bayes_optimal_accuracy"] + 1e-9
    assert info["bayes_optimal_accuracy"] - info["expected_accuracy"] < 0.02
    # normalized under the reference policy: scores of corpus responses are centred and of unit scale
    from rlhf_edu.rlhf.corpus import sample_documents

    documents = sample_documents(400, seed=5)
    scores = model.score([p for p, _ in documents], [r for _, r in documents])
    assert abs(scores.mean().item()) < 0.3 and 0.6 < scores.std().item() < 1.5


@pytest.mark.slow
def test_demo_writes_the_reward_plot_and_the_summary_entry(tmp_path):
    from rlhf_edu.app.demo_reward_model import run

    summary = run(tmp_path, seed=0)["reward_model"]
    assert {"accuracy", "bayes_optimal_accuracy", "n_pairs"} <= set(summary)
    assert summary["n_pairs"] == 16_000
    assert (tmp_path / "reward_vs_utility.png").stat().st_size > 10_000
    assert summary["reward_utility_correlation"] > 0.8


def _random_pair_batch(n: int, width: int, vocab: int, seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    batch = {}
    for side in ("chosen", "rejected"):
        lengths = torch.randint(1, width + 1, (n,), generator=g)
        mask = (torch.arange(width)[None, :] < lengths[:, None]).long()
        batch[f"{side}_ids"] = torch.randint(1, vocab, (n, width), generator=g) * mask
        batch[f"{side}_mask"] = mask
    return batch


def test_reward_model_step_returns_the_loss_before_the_step_and_updates_the_model():
    torch.manual_seed(0)
    model = BagOfWordsRewardModel(30, dim=4, hidden=8)
    batch = _random_pair_batch(8, 5, 30, seed=0)
    with torch.no_grad():
        r_c = model(batch["chosen_ids"], batch["chosen_mask"])
        r_r = model(batch["rejected_ids"], batch["rejected_mask"])
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    metrics = reward_model_step(model, optimizer, batch, margin=0.3)
    assert metrics["loss"] == pytest.approx(bradley_terry_loss(r_c, r_r, 0.3).item(), rel=1e-6)
    assert metrics["accuracy"] == pytest.approx(pairwise_accuracy(r_c, r_r))
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    losses = [reward_model_step(model, optimizer, batch)["loss"] for _ in range(30)]
    assert losses[-1] < losses[0]


def test_train_reward_model_runs_the_step_it_is_given(tiny_lm):
    pairs = make_synthetic_pairs("mix", 16, seed=1)
    config = RewardModelConfig(epochs=1, batch_size=8, eval_every=100)
    calls = []

    def step(model, optimizer, batch, margin):
        calls.append(batch["chosen_ids"].shape == batch["rejected_ids"].shape)
        return reward_model_step(model, optimizer, batch, margin)

    kwargs = dict(eval_pairs=pairs[:4], lm=tiny_lm, seed=3)
    default, default_history = train_reward_model(pairs, config, **kwargs)
    given, history = train_reward_model(pairs, config, step=step, **kwargs)
    assert calls == [True, True]
    assert history["loss"] == default_history["loss"]
    for a, b in zip(default.state_dict().values(), given.state_dict().values()):
        torch.testing.assert_close(a, b)
    with pytest.raises(TypeError, match="step"):
        train_reward_model(pairs, config, step="not a function", **kwargs)


def test_accuracy_vs_pairs_trains_one_fresh_model_per_nested_subset():
    train = _random_pair_batch(64, 6, 30, seed=1)
    evaluation = _random_pair_batch(32, 6, 30, seed=2)

    def make_model():
        return BagOfWordsRewardModel(30, dim=4, hidden=8)

    kwargs = dict(epochs=2, lr=0.05, batch_size=16)
    both = accuracy_vs_pairs(make_model, train, evaluation, [16, 48], [0, 1], **kwargs)
    alone = accuracy_vs_pairs(make_model, train, evaluation, [48], [0, 1], **kwargs)
    assert both.shape == (2, 2)
    np.testing.assert_array_equal(both[:, 1], alone[:, 0])
    assert np.all((both >= 0) & (both <= 1))
    with pytest.raises(ValueError, match="sizes"):
        accuracy_vs_pairs(make_model, train, evaluation, [65], [0])


def test_bag_of_words_reward_model_ignores_padding():
    torch.manual_seed(0)
    model = BagOfWordsRewardModel(30)
    ids = torch.tensor([[5, 6, 7, 0, 0], [5, 6, 7, 9, 9]])
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 0, 0]])
    rewards = model(ids, mask)
    assert rewards.shape == (2,)
    torch.testing.assert_close(rewards[0], rewards[1])
