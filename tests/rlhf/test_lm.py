"""The tiny GPT-2: built offline, cached once, loaded ready for RLHF."""

import multiprocessing
import shutil
import time

import pytest
import torch

from rlhf_edu.rlhf.corpus import generate_corpus, sample_prompts
from rlhf_edu.rlhf.lm import (
    EOS_TOKEN,
    PAD_TOKEN,
    build_once,
    build_tiny_lm,
    default_cache_dir,
    encode_prompt_response,
    load_lm,
    load_tiny_lm,
    sample_responses,
    sequence_logprob,
    tiny_lm_dir,
    token_logprobs,
    train_tokenizer,
)
from rlhf_edu.rlhf.preferences import words

torch.set_num_threads(1)  # several threads on a shared 2-core machine thrash


@pytest.fixture(scope="module")
def tiny_lm():
    return load_tiny_lm()  # built once into the shared cache, then loaded


def test_default_cache_dir_honours_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("RLHF_EDU_CACHE", str(tmp_path))
    assert default_cache_dir() == tmp_path
    monkeypatch.delenv("RLHF_EDU_CACHE")
    assert default_cache_dir().name == "rlhf_edu"


def test_tokenizer_has_distinct_pad_and_eos_and_round_trips_text():
    texts = generate_corpus(500, seed=0)
    tokenizer = train_tokenizer(texts, vocab_size=400)
    assert tokenizer.pad_token == PAD_TOKEN and tokenizer.eos_token == EOS_TOKEN
    assert tokenizer.pad_token_id != tokenizer.eos_token_id
    assert tokenizer.padding_side == "left"
    for text in texts[:20]:
        assert tokenizer.decode(tokenizer.encode(text)) == text
    with pytest.raises(ValueError, match="vocab_size"):
        train_tokenizer(texts, vocab_size=10)


def test_loaded_model_is_in_eval_mode_with_dropout_off(tiny_lm):
    model, tokenizer = tiny_lm
    assert not model.training
    assert all(m.p == 0 for m in model.modules() if isinstance(m, torch.nn.Dropout))
    assert model.config.vocab_size == len(tokenizer)
    assert tokenizer.padding_side == "left"
    assert model.config.n_positions == 128


def test_samples_read_like_the_corpus(tiny_lm):
    model, tokenizer = tiny_lm
    prompts = sample_prompts(32, seed=5)
    responses = sample_responses(model, tokenizer, prompts, seed=0)
    assert responses == sample_responses(model, tokenizer, prompts, seed=0)  # seeded
    corpus_words = {w for text in generate_corpus(3000, seed=0) for w in words(text)}
    sampled = [w for r in responses for w in words(r)]
    assert sum(w in corpus_words for w in sampled) / len(sampled) > 0.97
    finished = [r for r in responses if r.strip().endswith(".")]
    assert len(finished) >= 24  # most samples end a sentence before max_new_tokens


def test_sequence_logprob_counts_only_response_tokens_and_ignores_padding(tiny_lm):
    model, tokenizer = tiny_lm
    prompts = ["Review of the hotel:", "Thoughts on the gym:"]
    responses = [" The room was clean.", " I loved the class. The trainer was very friendly."]
    values = {}
    for side in ("left", "right"):
        batch = encode_prompt_response(tokenizer, prompts, responses, padding_side=side)
        with torch.no_grad():
            logits = model(
                input_ids=batch["input_ids"],
                attention_mask=batch["attention_mask"],
                position_ids=(batch["attention_mask"].cumsum(-1) - 1).clamp(min=0),
            ).logits
        values[side] = sequence_logprob(logits, batch["input_ids"], batch["response_mask"])
        per_token = token_logprobs(model, batch["input_ids"], batch["attention_mask"])
        summed = (per_token * batch["response_mask"][:, 1:]).sum(-1)
        torch.testing.assert_close(values[side], summed, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(values["left"], values["right"], atol=1e-4, rtol=1e-4)
    # one example alone (no padding) gives the same value
    alone = encode_prompt_response(tokenizer, prompts[:1], responses[:1])
    with torch.no_grad():
        logits = model(input_ids=alone["input_ids"]).logits
    single = sequence_logprob(logits, alone["input_ids"], alone["response_mask"])
    torch.testing.assert_close(single, values["left"][:1], atol=1e-4, rtol=1e-4)
    assert (values["left"] < 0).all()


def test_build_is_reproducible_from_the_seed(tmp_path):
    kwargs = dict(n_documents=300, vocab_size=400, steps=3, batch_size=8)
    build_tiny_lm(tmp_path / "a", seed=1, **kwargs)
    build_tiny_lm(tmp_path / "b", seed=1, **kwargs)
    (ma, _), (mb, _) = load_lm(tmp_path / "a"), load_lm(tmp_path / "b")
    for (name, pa), (_, pb) in zip(ma.named_parameters(), mb.named_parameters()):
        assert torch.equal(pa, pb), name


def test_tokenizer_that_does_not_match_the_model_raises_a_clear_error(tmp_path, tiny_lm):
    model, _ = tiny_lm
    model.save_pretrained(tmp_path / "model")
    other = train_tokenizer(generate_corpus(300, seed=0), vocab_size=400)
    other.save_pretrained(tmp_path / "model")
    with pytest.raises(ValueError, match="does not match the model's embedding table"):
        load_lm(tmp_path / "model")


def test_cached_build_is_reused(tiny_lm):
    folder = tiny_lm_dir()
    assert (folder / ".complete").exists() and (folder / "build_info.json").exists()
    before = (folder / "model.safetensors").stat().st_mtime
    load_tiny_lm()
    assert (folder / "model.safetensors").stat().st_mtime == before


def _slow_build(cache_dir, log):
    def build(tmp):
        with open(log, "a") as fh:
            fh.write("built\n")
        time.sleep(0.5)
        (tmp / "payload.txt").write_text("ok")

    return str(build_once(cache_dir, "thing", build))


def test_build_once_builds_a_single_time_when_processes_race(tmp_path):
    log = tmp_path / "log.txt"
    context = multiprocessing.get_context("fork")
    with context.Pool(3) as pool:
        folders = pool.starmap(_slow_build, [(tmp_path, log)] * 3)
    assert len(set(folders)) == 1
    assert log.read_text() == "built\n"
    assert (tmp_path / "thing" / "payload.txt").read_text() == "ok"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".thing.") and p.is_dir()] == []


def test_a_failed_build_leaves_no_folder_behind(tmp_path):
    def broken(tmp):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        build_once(tmp_path, "thing", broken)
    assert not (tmp_path / "thing").exists()
    assert [p for p in tmp_path.iterdir() if p.is_dir()] == []
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_a_built_folder_is_readable_by_every_user(tmp_path):
    """The grader's sandbox reads the cache as another user: no 0600 file may stay private."""

    def build(tmp):
        (tmp / "sub").mkdir()
        for path in (tmp / "weights.bin", tmp / "sub" / "history.csv"):
            path.write_text("x")
            path.chmod(0o600)  # what mkstemp and safetensors leave

    folder = build_once(tmp_path, "thing", build)
    for path in [folder, *folder.rglob("*")]:
        assert path.stat().st_mode & 0o444 == 0o444, path
