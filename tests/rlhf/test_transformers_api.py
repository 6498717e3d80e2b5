"""The generation path uses the installed transformers' current API: no deprecation warnings.

A new transformers once deprecated ``past_key_values`` and printed a warning on every sampling
call, which broke the notebooks' stored outputs. This test runs the sampling, scoring and
log-prob code in a fresh interpreter (``warning_once`` remembers what it has already said in a
process) and fails on any DeprecationWarning or FutureWarning raised from transformers, and on
any warning transformers logs. ``quiet_transformers`` is switched off there so that it cannot
hide a deprecation logged inside it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent(
    """
    import contextlib
    import logging
    import sys
    import warnings

    import torch
    from transformers.utils import logging as hf_logging

    import rlhf_edu.rlhf.lm as lm
    from rlhf_edu.rlhf import generation
    from rlhf_edu.rlhf.reward_model import RewardModel
    from helpers.tiny_gpt2 import PROMPTS, letter_reward, tiny_policy, tiny_tokenizer

    lm.quiet_transformers = contextlib.nullcontext  # let every warning through
    generation.quiet_transformers = contextlib.nullcontext
    hf_logging.set_verbosity_warning()
    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    hf_logging.get_logger("transformers").addHandler(Keep(logging.WARNING))

    tokenizer, policy = tiny_tokenizer(), tiny_policy(seed=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        batch = generation.encode_prompts(tokenizer, PROMPTS, 8, 64)
        generation.sample_responses(
            policy, batch, 8, 1.0, tokenizer.eos_token_id, tokenizer.pad_token_id,
            generator=torch.Generator().manual_seed(0),
        )
        generation.sample_and_score(
            policy, tiny_policy(seed=1), tokenizer, PROMPTS, letter_reward, max_new_tokens=8
        )
        lm.sample_responses(policy, tokenizer, PROMPTS, max_new_tokens=8, seed=0)
        enc = lm.encode_prompt_response(tokenizer, PROMPTS, [" good"] * len(PROMPTS))
        lm.token_logprobs(policy, enc["input_ids"], enc["attention_mask"])
        RewardModel.from_lm(policy, tokenizer).score(PROMPTS, [" good"] * len(PROMPTS))

    for w in caught:
        if issubclass(w.category, (DeprecationWarning, FutureWarning)) and (
            "transformers" in str(w.filename) or "transformers" in str(w.message)
        ):
            print("WARNING", w.category.__name__, w.filename, w.message)
    for message in records:
        print("LOGGED", message)
    print("done")
    """
)


def test_generation_path_warns_nothing_under_the_installed_transformers():
    tests = str(Path(__file__).resolve().parents[1])
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join([tests, os.environ.get("PYTHONPATH", "")]),
        },
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert lines[-1] == "done", result.stdout[-3000:]
    complaints = [line for line in lines if line.startswith(("WARNING", "LOGGED"))]
    assert complaints == [], "\n".join(complaints)
