"""A tiny GPT-2, built offline: a locally trained tokenizer and a small model pretrained on the corpus.

A language model is a policy over tokens. Given a prompt ``x`` it generates a response
``y = (y_1, ..., y_T)`` one token (one *action*) at a time, each drawn from

    pi(y_t | x, y_<t) = softmax(logits_t / temperature)[y_t]

so the log-probability of the whole response is the sum of its tokens' log-probabilities

    log pi(y | x) = sum_t log pi(y_t | x, y_<t)          (only response tokens count, never pads).

This module builds the course's reference policy without any download:

1. ``generate_corpus`` (:mod:`rlhf_edu.rlhf.corpus`) writes tens of thousands of short reviews;
2. ``train_tokenizer`` learns a byte-level BPE vocabulary on them (``tokenizers``), wrapped as a
   ``transformers.PreTrainedTokenizerFast`` with a pad token ``<|pad|>`` distinct from the end token
   ``<|endoftext|>`` (padding with EOS breaks masks and the reward position);
3. ``pretrain`` fits a ``GPT2LMHeadModel`` (2 layers, 128 wide) by next-token cross-entropy.

``build_tiny_lm`` does all three and saves with ``save_pretrained``; ``load_tiny_lm`` builds once
into a cache folder (file-locked, so parallel test workers and notebook kernels share one build)
and loads with ``from_pretrained`` -- the same call that loads a real ``gpt2`` checkpoint
(``load_lm("gpt2")``, for users with internet).

Models come back in eval mode with every dropout probability 0: RLHF compares log-probabilities of
the same tokens under several passes, and dropout would make them disagree.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedModel, PreTrainedTokenizerFast

from rlhf_edu.rlhf.corpus import generate_corpus
from rlhf_edu.utils import History, check_seed, progress

#: Bump when the corpus, tokenizer or model recipe changes: cached builds of older versions are
#: ignored (a new folder is built next to them).
LM_VERSION = 1
EOS_TOKEN = "<|endoftext|>"
PAD_TOKEN = "<|pad|>"
_DROPOUT_KEYS = ("resid_pdrop", "embd_pdrop", "attn_pdrop", "summary_first_dropout")


def default_cache_dir() -> Path:
    """Where built models live: ``$RLHF_EDU_CACHE`` if set, else ``~/.cache/rlhf_edu``."""
    env = os.environ.get("RLHF_EDU_CACHE", "").strip()
    return Path(env).expanduser() if env else Path.home() / ".cache" / "rlhf_edu"


# ---------------------------------------------------------------------------------------------
# Tokenizer
# ---------------------------------------------------------------------------------------------


def train_tokenizer(
    texts: Sequence[str], vocab_size: int = 1024, padding_side: str = "left"
) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE tokenizer on ``texts`` and wrap it for transformers.

    The vocabulary holds the 256 bytes, the merges learned from ``texts`` (up to ``vocab_size``
    entries in all) and two special tokens: ``<|endoftext|>`` (end of a document, also used as
    BOS) and ``<|pad|>`` (padding only, never generated).
    """
    from tokenizers import ByteLevelBPETokenizer

    if not isinstance(vocab_size, int) or not 300 <= vocab_size <= 65536:
        raise ValueError(f"vocab_size must be an int in [300, 65536], got {vocab_size!r}")
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        list(texts), vocab_size=vocab_size, min_frequency=2, special_tokens=[EOS_TOKEN, PAD_TOKEN],
        show_progress=False,
    )  # fmt: skip
    return wrap_tokenizer(bpe._tokenizer, padding_side=padding_side)


def wrap_tokenizer(tokenizer_object, padding_side: str = "left") -> PreTrainedTokenizerFast:
    """A ``tokenizers.Tokenizer`` as a ``PreTrainedTokenizerFast`` with our special tokens."""
    _check_padding_side(padding_side)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer_object,
        eos_token=EOS_TOKEN,
        bos_token=EOS_TOKEN,
        unk_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        padding_side=padding_side,
        model_max_length=128,
        clean_up_tokenization_spaces=False,
    )


def _check_padding_side(padding_side: str) -> None:
    if padding_side not in ("left", "right"):
        raise ValueError(f"padding_side must be 'left' or 'right', got {padding_side!r}")


# ---------------------------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------------------------


def tiny_gpt2_config(
    tokenizer: PreTrainedTokenizerFast,
    n_layer: int = 2,
    n_embd: int = 128,
    n_head: int = 4,
    n_positions: int = 128,
) -> GPT2Config:
    """The configuration of the course's tiny GPT-2 (dropout 0 everywhere)."""
    return GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=n_positions,
        n_embd=n_embd,
        n_layer=n_layer,
        n_head=n_head,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )


def disable_dropout(model: torch.nn.Module) -> torch.nn.Module:
    """Set every dropout probability to 0 (in the modules and in a transformers config)."""
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    config = getattr(model, "config", None)
    if config is not None:
        for key in _DROPOUT_KEYS:
            if hasattr(config, key):
                setattr(config, key, 0.0)
    return model


def check_vocab(model: PreTrainedModel, tokenizer: PreTrainedTokenizerFast) -> None:
    """Raise ValueError unless the tokenizer's vocabulary is the one the model was built for."""
    n_embeddings = model.get_input_embeddings().num_embeddings
    n_tokens = len(tokenizer)
    if n_tokens != n_embeddings:
        raise ValueError(
            f"tokenizer vocabulary ({n_tokens} tokens) does not match the model's embedding table "
            f"({n_embeddings} rows): load the tokenizer saved with this model (same folder), or "
            f"rebuild the model with 'rlhf-edu train lm --force'"
        )
    for name in ("pad_token_id", "eos_token_id"):
        token_id = getattr(tokenizer, name)
        if token_id is None or not 0 <= token_id < n_embeddings:
            raise ValueError(f"tokenizer {name} = {token_id} is not a valid id of this model")


def position_ids_from_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """Position ids that count only real tokens, so left padding does not shift positions.

    ``attention_mask`` (batch, seq_len) of 0/1 -> (batch, seq_len): 0, 1, 2, ... from each row's
    first real token; pad positions get 0 (they are masked anyway).
    """
    positions = attention_mask.long().cumsum(-1) - 1
    return positions.clamp(min=0)


def token_logprobs(
    model: PreTrainedModel,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    temperature: float = 1.0,
) -> torch.Tensor:
    """log pi(token_t | tokens_<t) of every token after the first: (batch, seq_len - 1).

    Entry ``[:, t - 1]`` is the log-probability of ``input_ids[:, t]``. Logits are divided by
    ``temperature`` (use the same temperature as when sampling).
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    logits = model(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=position_ids_from_mask(attention_mask),
    ).logits  # (batch, seq_len, vocab)
    logprobs = F.log_softmax(logits[:, :-1].float() / temperature, dim=-1)
    return logprobs.gather(-1, input_ids[:, 1:].unsqueeze(-1)).squeeze(-1)


def sequence_logprob(
    logits: torch.Tensor, input_ids: torch.Tensor, response_mask: torch.Tensor
) -> torch.Tensor:
    """log pi(y | x) = sum over response tokens of log softmax(logits)[token]: (batch,).

    Args:
        logits: (batch, seq_len, vocab), the model's output for ``input_ids``; ``logits[:, t]``
            predicts token ``t + 1``.
        input_ids: (batch, seq_len) prompt + response (+ padding).
        response_mask: (batch, seq_len), 1 where a token belongs to the response (and is not a pad).
            The first position never counts (nothing predicts it).
    """
    logprobs = F.log_softmax(logits[:, :-1].float(), dim=-1)  # (batch, seq_len - 1, vocab)
    token_lp = logprobs.gather(-1, input_ids[:, 1:].unsqueeze(-1)).squeeze(-1)
    return (token_lp * response_mask[:, 1:].to(token_lp.dtype)).sum(-1)


def encode_prompt_response(
    tokenizer: PreTrainedTokenizerFast,
    prompts: Sequence[str],
    responses: Sequence[str],
    add_eos: bool = True,
    padding_side: str | None = None,
) -> dict[str, torch.Tensor]:
    """Tokenize ``prompt + response (+ EOS)`` and pad: ``input_ids``, ``attention_mask`` and
    ``response_mask`` (1 on response tokens, including the EOS), each (batch, seq_len)."""
    if len(prompts) != len(responses):
        raise ValueError(
            f"prompts and responses must have the same length, got {len(prompts)} and "
            f"{len(responses)}"
        )
    side = padding_side or tokenizer.padding_side
    _check_padding_side(side)
    rows, masks = [], []
    for prompt, response in zip(prompts, responses):
        prompt_ids = tokenizer.encode(prompt, add_special_tokens=False)
        response_ids = tokenizer.encode(response, add_special_tokens=False)
        if add_eos:
            response_ids = response_ids + [tokenizer.eos_token_id]
        rows.append(prompt_ids + response_ids)
        masks.append([0] * len(prompt_ids) + [1] * len(response_ids))
    return _pad(rows, masks, tokenizer.pad_token_id, side)


def _pad(
    rows: list[list[int]], masks: list[list[int]], pad_id: int, side: str
) -> dict[str, torch.Tensor]:
    width = max(len(r) for r in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
    response_mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (row, mask) in enumerate(zip(rows, masks)):
        span = slice(0, len(row)) if side == "right" else slice(width - len(row), width)
        input_ids[i, span] = torch.tensor(row, dtype=torch.long)
        attention_mask[i, span] = 1
        response_mask[i, span] = torch.tensor(mask, dtype=torch.long)
    return {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "response_mask": response_mask,
    }


@torch.no_grad()
def sample_responses(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerFast,
    prompts: Sequence[str],
    max_new_tokens: int = 48,
    temperature: float = 1.0,
    seed: int = 0,
    batch_size: int = 64,
) -> list[str]:
    """Sample one response per prompt (pure sampling: no top-k, no top-p), seeded.

    The responses are decoded without special tokens and start with a space, like the corpus.
    """
    check_seed(seed)
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    responses: list[str] = []
    was_training = model.training
    model.eval()
    with torch.random.fork_rng(devices=[]), quiet_transformers():
        torch.manual_seed(seed)
        for start in range(0, len(prompts), batch_size):
            batch = list(prompts[start : start + batch_size])
            enc = tokenizer(batch, return_tensors="pt", padding=True, padding_side="left")
            out = model.generate(
                **enc,
                do_sample=True,
                temperature=temperature,
                top_k=0,
                top_p=1.0,
                max_new_tokens=max_new_tokens,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
            )
            new_tokens = out[:, enc["input_ids"].shape[1] :]
            responses += tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
    model.train(was_training)
    return responses


# ---------------------------------------------------------------------------------------------
# Pretraining
# ---------------------------------------------------------------------------------------------


def pretrain(
    model: GPT2LMHeadModel,
    tokenizer: PreTrainedTokenizerFast,
    texts: Sequence[str],
    steps: int = 600,
    batch_size: int = 32,
    lr: float = 3e-3,
    warmup: int = 50,
    seed: int = 0,
) -> History:
    """Next-token cross-entropy on ``texts`` (each followed by EOS), AdamW with a cosine schedule.

    Returns a History with ``step``, ``loss`` (nats per token, smoothed over 50 steps).
    """
    check_seed(seed)
    rng = np.random.default_rng(seed)
    eos = tokenizer.eos_token_id
    encoded = [ids + [eos] for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"]]
    max_len = model.config.n_positions
    encoded = [ids[:max_len] for ids in encoded]
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.01)

    def lr_at(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_at)
    history = History()
    model.train()
    running = None
    order = rng.permutation(len(encoded))
    cursor = 0
    for step in progress(range(steps), desc="pretraining tiny GPT-2"):
        if cursor + batch_size > len(order):
            order, cursor = rng.permutation(len(encoded)), 0
        batch = [encoded[i] for i in order[cursor : cursor + batch_size]]
        cursor += batch_size
        padded = _pad(batch, [[1] * len(r) for r in batch], tokenizer.pad_token_id, "right")
        input_ids, attention_mask = padded["input_ids"], padded["attention_mask"]
        logits = model(input_ids=input_ids, attention_mask=attention_mask).logits
        # next-token cross-entropy over real tokens: logits[:, t] predicts input_ids[:, t + 1]
        targets = input_ids[:, 1:].masked_fill(attention_mask[:, 1:] == 0, -100)
        loss = F.cross_entropy(logits[:, :-1].flatten(0, 1), targets.flatten(), ignore_index=-100)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
        if step % 50 == 0 or step == steps - 1:
            history.log(step=step, loss=running)
    model.eval()
    return history


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' own progress bars (loading/saving weights) and info logs.

    They go to stderr, which notebooks store; nbval would then compare them.
    """
    from transformers.utils import logging as hf_logging

    bars_were_on = hf_logging.is_progress_bar_enabled()
    verbosity = hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars_were_on:
            hf_logging.enable_progress_bar()


@contextlib.contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def build_tiny_lm(
    out_dir: str | os.PathLike,
    seed: int = 0,
    n_documents: int = 20000,
    vocab_size: int = 1024,
    n_layer: int = 2,
    n_embd: int = 128,
    steps: int = 600,
    batch_size: int = 32,
    lr: float = 3e-3,
) -> Path:
    """Generate the corpus, train the tokenizer, pretrain a tiny GPT-2; save all to ``out_dir``.

    ``out_dir`` receives the ``save_pretrained`` files of the model and tokenizer, plus
    ``build_info.json`` (the recipe, final loss and build time). About a minute on one CPU core;
    the same seed gives the same model on the same machine.
    """
    seed = check_seed(seed)
    out_dir = Path(out_dir)
    started = time.perf_counter()
    with _torch_threads(1), torch.random.fork_rng(devices=[]):
        texts = generate_corpus(n_documents, seed=seed)
        tokenizer = train_tokenizer(texts, vocab_size=vocab_size)
        torch.manual_seed(seed)
        model = GPT2LMHeadModel(tiny_gpt2_config(tokenizer, n_layer=n_layer, n_embd=n_embd))
        history = pretrain(
            model, tokenizer, texts, steps=steps, batch_size=batch_size, lr=lr, seed=seed
        )
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.bos_token_id = tokenizer.eos_token_id
    out_dir.mkdir(parents=True, exist_ok=True)
    with quiet_transformers():
        model.save_pretrained(out_dir)
        tokenizer.save_pretrained(out_dir)
    info = {
        "lm_version": LM_VERSION,
        "seed": seed,
        "n_documents": n_documents,
        "vocab_size": len(tokenizer),
        "n_layer": n_layer,
        "n_embd": n_embd,
        "steps": steps,
        "batch_size": batch_size,
        "lr": lr,
        "final_loss": history.last("loss"),
        "n_parameters": sum(p.numel() for p in model.parameters()),
        "build_seconds": round(time.perf_counter() - started, 1),
    }
    (out_dir / "build_info.json").write_text(json.dumps(info, indent=1))
    history.to_csv(out_dir / "pretraining.csv")
    return out_dir


# ---------------------------------------------------------------------------------------------
# Loading (and building once into the cache)
# ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def cache_lock(cache_dir: Path, name: str) -> Iterator[None]:
    """An exclusive inter-process lock (``fcntl.flock``) on ``cache_dir/.name.lock``."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    with open(cache_dir / f".{name}.lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_once(cache_dir: Path, name: str, build) -> Path:
    """``cache_dir/name``, calling ``build(tmp_folder)`` first if it does not exist yet.

    Safe when several processes call it at once: they take a file lock, the first builds into a
    temporary folder and renames it into place atomically; the others find it built.
    """
    final = cache_dir / name
    if (final / ".complete").exists():
        return final
    with cache_lock(cache_dir, name):
        if (final / ".complete").exists():
            return final
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=cache_dir))
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; the cache is shared like any folder
        try:
            build(tmp)
            (tmp / ".complete").write_text("ok\n")
            if final.exists():  # an incomplete folder left by a crash
                shutil.rmtree(final)
            os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return final


def tiny_lm_dir(cache_dir: str | os.PathLike | None = None, seed: int = 0) -> Path:
    """The cache folder of the tiny LM for ``seed`` (built or not)."""
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return cache / f"tiny-lm-v{LM_VERSION}-seed{check_seed(seed)}"


def ensure_tiny_lm(
    cache_dir: str | os.PathLike | None = None, seed: int = 0, force: bool = False
) -> Path:
    """Build the tiny LM into the cache unless it is there already; return its folder."""
    folder = tiny_lm_dir(cache_dir, seed)
    if force and folder.exists():
        with cache_lock(folder.parent, folder.name):
            shutil.rmtree(folder)
    return build_once(folder.parent, folder.name, lambda tmp: build_tiny_lm(tmp, seed=seed))


def load_lm(
    path_or_name: str | os.PathLike,
    padding_side: str = "left",
    tokenizer_path: str | os.PathLike | None = None,
) -> tuple[GPT2LMHeadModel, PreTrainedTokenizerFast]:
    """Load a causal LM and its tokenizer with ``from_pretrained``, ready for RLHF.

    Works for the course's tiny GPT-2 folder and for any GPT-2 checkpoint (a local path, or the
    name ``"gpt2"`` with internet). If the tokenizer has no pad token (real GPT-2), ``<|pad|>`` is
    added and the embedding table grows by one row. The model is in eval mode with dropout 0.

    Raises:
        ValueError: the tokenizer's vocabulary does not match the model's.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _check_padding_side(padding_side)
    source = str(path_or_name)
    with quiet_transformers():
        tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_path or source))
        overrides = {key: 0.0 for key in ("resid_pdrop", "embd_pdrop", "attn_pdrop")}
        model = AutoModelForCausalLM.from_pretrained(source, **overrides)
    tokenizer.padding_side = padding_side
    if tokenizer.pad_token is None or tokenizer.pad_token_id == tokenizer.eos_token_id:
        tokenizer.add_special_tokens({"pad_token": PAD_TOKEN})
        model.resize_token_embeddings(len(tokenizer))
        model.config.pad_token_id = tokenizer.pad_token_id
    check_vocab(model, tokenizer)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    disable_dropout(model)
    model.eval()
    return model, tokenizer


def load_tiny_lm(
    cache_dir: str | os.PathLike | None = None, seed: int = 0, padding_side: str = "left"
) -> tuple[GPT2LMHeadModel, PreTrainedTokenizerFast]:
    """The course's tiny GPT-2 and its tokenizer, built into the cache on first use (~1 min).

    Returns ``(model, tokenizer)``: the model in eval mode with dropout 0, the tokenizer padding on
    ``padding_side`` (left for generation).
    """
    folder = ensure_tiny_lm(cache_dir, seed)
    return load_lm(folder, padding_side=padding_side)
