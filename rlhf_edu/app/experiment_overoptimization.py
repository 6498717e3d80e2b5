"""``rlhf-edu experiment overoptimization``: reward over-optimisation as Gao et al. (2022) measured it.

The *gold* reward is the "mix" labeler's hidden true utility. *Proxy* reward models are trained
on its noisy Bradley-Terry labels, one per label count in ``PROXY_LABELS`` (fewer labels, a worse
proxy). Each proxy is then optimised two ways, starting from the tiny GPT-2:

- **best-of-n**: ``N_SAMPLES`` responses per prompt are drawn once from the initial policy and
  scored by every proxy and by the gold utility; the best of ``n`` by proxy, for each ``n`` in
  ``BON_NS``, is evaluated without resampling (``overoptimization.best_of_n_estimate``). Its
  distance from the initial policy is the analytic bound ``d = sqrt(log n - (n - 1) / n)``;
- **RL**: PPO (``RLHFPPOTrainer``) against the proxy with no KL penalty, ``RL_UPDATES`` small
  updates; each update's rollout gives the sampled ``KL(pi || pi_init)``, proxy and gold score.

Both scores are measured from the initial policy's value (the mean over all ``N_SAMPLES`` draws
per prompt of the initial policy), so every curve starts at 0 at ``d = 0``. Gao et al.'s forms,
``R_bon(d) = d (alpha - beta d)`` and ``R_RL(d) = d (alpha - beta log d)``, are fitted to the
gold curves averaged over seeds (``overoptimization.fit_gao``).

The proxies are :class:`~rlhf_edu.rlhf.reward_model.BagOfWordsRewardModel`: Bradley-Terry reward
models over the tiny GPT-2's tokens that train in a second, so that four of them and their RL
runs fit in a few minutes of CPU. With few labels they learn the labeler's taste only partly
(held-out pairwise accuracy is recorded per proxy), and optimising them finds what they get wrong.

``results.json``: ``"bon"`` and ``"rl"`` (``sqrt_kl``, ``gold``, ``proxy``, ``fit`` with
``alpha`` and ``beta``) for the headline proxy (``HEADLINE_LABELS``), ``"proxy_labels"``, and per
label count under ``"by_labels"``: the same curves and fits with the peak of each fitted gold
curve, plus the proxies' held-out accuracy; ``"per_seed"`` keeps every seed's raw curves.
Deterministic: the same seeds give the same file.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rlhf_edu.rlhf.best_of_n import best_of_n_kl
from rlhf_edu.rlhf.overoptimization import best_of_n_estimate, fit_gao
from rlhf_edu.rlhf.preferences import get_labeler, make_synthetic_pairs
from rlhf_edu.rlhf.reward_model import (
    BagOfWordsRewardModel,
    encode_pair_tensors,
    pair_rewards,
    pairwise_accuracy,
    reward_model_step,
)
from rlhf_edu.utils.progress import progress

#: Label counts of the proxy reward models (noisy pairs from the "mix" labeler).
PROXY_LABELS = (30, 100, 300, 3000)
LABELER = "mix"
#: The proxy of the top-level ``"bon"`` and ``"rl"`` curves of results.json: the fewest labels,
#: whose gold score peaks and turns down for best-of-n and for RL alike.
HEADLINE_LABELS = 30
#: Proxy training: epochs over the pairs, Adam's learning rate, pairs per step.
PROXY_EPOCHS, PROXY_LR, PROXY_BATCH = 8, 1e-2, 32
N_HELD_OUT_PAIRS = 2000
#: Best-of-n: prompts, samples per prompt (drawn once), and the n evaluated.
N_BON_PROMPTS, N_SAMPLES = 16, 256
BON_NS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
MAX_NEW_TOKENS = 32
#: RL: PPO updates per proxy, and the changes to ``RLHFPPOConfig()``.
RL_UPDATES = 15
RL_CONFIG = {
    "batch_size": 32,
    "ppo_epochs": 2,
    "learning_rate": 5e-4,
    "init_kl_coef": 0.0,
    "adaptive_kl": False,
}
DIGITS = 5


def _round(values: Sequence[float] | np.ndarray) -> list[float]:
    return [round(float(v), DIGITS) for v in values]


class ProxyReward:
    """A trained proxy as a reward function: ``proxy(prompts, responses) -> (batch,)`` scores,
    normalised to mean 0 and std 1 under the initial policy (``normalize_under``)."""

    def __init__(self, model: torch.nn.Module, tokenizer) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.mean, self.std = 0.0, 1.0

    @torch.no_grad()
    def raw(self, prompts: Sequence[str], responses: Sequence[str]) -> torch.Tensor:
        from rlhf_edu.rlhf.lm import encode_prompt_response

        out = []
        for start in range(0, len(prompts), 1024):
            batch = encode_prompt_response(
                self.tokenizer,
                list(prompts[start : start + 1024]),
                list(responses[start : start + 1024]),
                padding_side="right",
            )
            out.append(self.model(batch["input_ids"], batch["attention_mask"]).double())
        return torch.cat(out)

    def normalize_under(self, prompts: Sequence[str], responses: Sequence[str]) -> None:
        raw = self.raw(prompts, responses)
        self.mean, self.std = float(raw.mean()), float(raw.std().clamp(min=1e-6))

    def __call__(self, prompts: Sequence[str], responses: Sequence[str]) -> torch.Tensor:
        return ((self.raw(prompts, responses) - self.mean) / self.std).float()


def train_proxy(n_labels: int, seed: int, tokenizer) -> tuple[ProxyReward, float]:
    """A bag-of-words Bradley-Terry proxy trained on ``n_labels`` noisy pairs of the labeler
    (the first ``n_labels`` of one seeded collection, so smaller sets nest in larger ones), and
    its pairwise accuracy on held-out pairs (labels of the same labeler)."""
    pairs = make_synthetic_pairs(LABELER, max(PROXY_LABELS), seed=1000 + seed)[:n_labels]
    held_out = make_synthetic_pairs(LABELER, N_HELD_OUT_PAIRS, seed=2000 + seed)
    train = encode_pair_tensors(tokenizer, pairs)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = BagOfWordsRewardModel(len(tokenizer))
        optimizer = torch.optim.Adam(model.parameters(), lr=PROXY_LR)
        rng = np.random.default_rng(seed)
        for _ in range(PROXY_EPOCHS):
            order = rng.permutation(n_labels)
            for start in range(0, n_labels, PROXY_BATCH):
                rows = torch.as_tensor(order[start : start + PROXY_BATCH])
                reward_model_step(model, optimizer, {k: v[rows] for k, v in train.items()})
    model.eval()
    with torch.no_grad():
        accuracy = pairwise_accuracy(*pair_rewards(model, encode_pair_tensors(tokenizer, held_out)))
    return ProxyReward(model, tokenizer), accuracy


@torch.no_grad()
def initial_policy_samples(
    seed: int, n_prompts: int = N_BON_PROMPTS
) -> tuple[list[str], list[str]]:
    """``N_SAMPLES`` responses to each of ``n_prompts`` prompts from the tiny GPT-2:
    ``(prompts, responses)`` flat, prompt ``i``'s samples at ``i * N .. (i + 1) * N - 1``.
    Sampled in batches of 512 rows, so the first ``2k`` prompts' samples do not depend on
    ``n_prompts`` (a test regenerates a slice)."""
    from rlhf_edu.rlhf.corpus import sample_prompts
    from rlhf_edu.rlhf.generation import (
        check_pad_token,
        decode_responses,
        encode_prompts,
        response_mask_from_tokens,
        sample_responses,
    )
    from rlhf_edu.rlhf.lm import load_tiny_lm

    policy, tokenizer = load_tiny_lm()
    pad, eos = check_pad_token(tokenizer)
    prompts = sample_prompts(n_prompts, seed=30_000 + seed)
    repeated = [p for p in prompts for _ in range(N_SAMPLES)]
    generator = torch.Generator().manual_seed(seed)
    responses: list[str] = []
    for start in range(0, len(repeated), 512):
        batch = encode_prompts(
            tokenizer, repeated[start : start + 512], MAX_NEW_TOKENS, policy.config.n_positions
        )
        ids = sample_responses(policy, batch, MAX_NEW_TOKENS, 1.0, eos, pad, generator)
        responses += decode_responses(tokenizer, ids, response_mask_from_tokens(ids, eos))
    return repeated, responses


def best_of_n_curve(
    proxy_scores: np.ndarray, gold_scores: np.ndarray, ns: Sequence[int] = BON_NS
) -> dict[str, list[float]]:
    """Best-of-n by proxy for each ``n``: ``{"n", "sqrt_kl", "proxy", "gold"}``, the scores
    measured from the initial policy's (``n = 1``) value. Inputs: ``(n_prompts, N)``."""
    proxy, gold = [], []
    for n in ns:
        p, g = best_of_n_estimate(proxy_scores, gold_scores, n)
        proxy.append(p - float(proxy_scores.mean()))
        gold.append(g - float(gold_scores.mean()))
    return {
        "n": list(ns),
        "sqrt_kl": _round([math.sqrt(best_of_n_kl(n)) for n in ns]),
        "proxy": _round(proxy),
        "gold": _round(gold),
    }


def rl_curve(
    proxy: ProxyReward, seed: int, n_updates: int, gold_start: float, proxy_start: float
) -> dict[str, list[float]]:
    """PPO against ``proxy`` from the tiny GPT-2 for ``n_updates`` updates: per update (its
    rollout, before the update's gradient steps) the sampled ``kl``, and the ``proxy`` and
    ``gold`` scores measured from the initial policy's values ``proxy_start``/``gold_start``."""
    from rlhf_edu.rlhf.corpus import sample_prompts
    from rlhf_edu.rlhf.lm import load_tiny_lm
    from rlhf_edu.rlhf.ppo import RLHFPPOConfig, RLHFPPOTrainer
    from rlhf_edu.utils.seeding import seed_everything

    seed_everything(seed)
    policy, tokenizer = load_tiny_lm()
    trainer = RLHFPPOTrainer(
        policy,
        tokenizer,
        proxy,
        sample_prompts(512, seed=seed),
        RLHFPPOConfig(max_new_tokens=MAX_NEW_TOKENS).replace(**RL_CONFIG),
        seed=seed,
        true_utility=get_labeler(LABELER).utility,
    )
    trainer.train(n_updates, show_progress=False)
    rows = trainer.history.rows
    return {
        "kl": _round([max(row["kl"], 0.0) for row in rows]),
        "proxy": _round([row["reward"] - proxy_start for row in rows]),
        "gold": _round([row["true_utility"] - gold_start for row in rows]),
    }


def run_seed(
    seed: int,
    proxy_labels: Sequence[int] = PROXY_LABELS,
    rl_updates: int = RL_UPDATES,
    show_progress: bool | None = None,
) -> dict[str, Any]:
    """One seed: every proxy's held-out accuracy, best-of-n curve and RL curve."""
    from rlhf_edu.rlhf.lm import load_tiny_lm

    _, tokenizer = load_tiny_lm()
    labeler = get_labeler(LABELER)
    prompts, responses = initial_policy_samples(seed)
    gold = labeler.utilities(prompts, responses).reshape(N_BON_PROMPTS, N_SAMPLES)
    out: dict[str, Any] = {
        "seed": seed,
        "initial_gold": round(float(gold.mean()), DIGITS),
        "initial_gold_by_prompt": _round(gold.mean(axis=1)),
    }
    disable = None if show_progress is None else not show_progress
    for n_labels in progress(proxy_labels, desc=f"seed {seed}: proxies", disable=disable):
        proxy, accuracy = train_proxy(n_labels, seed, tokenizer)
        proxy.normalize_under(prompts, responses)  # mean 0, std 1 under the initial policy
        scores = proxy(prompts, responses).double().numpy().reshape(N_BON_PROMPTS, N_SAMPLES)
        out[str(n_labels)] = {
            "accuracy": round(accuracy, DIGITS),
            "normalization": [proxy.mean, proxy.std],
            "bon": best_of_n_curve(scores, gold),
            "rl": rl_curve(proxy, seed, rl_updates, float(gold.mean()), float(scores.mean())),
        }
    return out


def _fitted(form: str, sqrt_kl: list[float], gold: list[float], proxy: list[float]) -> dict:
    fit = fit_gao(form, sqrt_kl, gold)
    peak = int(np.argmax(gold))
    return {
        "sqrt_kl": sqrt_kl,
        "gold": gold,
        "proxy": proxy,
        "fit": {"alpha": round(fit.alpha, DIGITS), "beta": round(fit.beta, DIGITS)},
        "fit_peak_sqrt_kl": round(fit.peak_sqrt_kl, DIGITS) if fit.beta > 0 else None,
        "measured_peak_sqrt_kl": sqrt_kl[peak],
        "gold_at_end_below_peak": round(gold[peak] - gold[-1], DIGITS),
    }


def summarize(per_seed: list[dict[str, Any]], proxy_labels: Sequence[int]) -> dict[str, Any]:
    """Seed means of each proxy's curves, with Gao et al.'s fits: the ``by_labels`` entries."""
    by_labels: dict[str, Any] = {}
    for n_labels in map(str, proxy_labels):
        runs = [seed_result[n_labels] for seed_result in per_seed]
        bon = runs[0]["bon"]
        bon_mean = {k: _round(np.mean([r["bon"][k] for r in runs], 0)) for k in ("gold", "proxy")}
        rl_mean = {
            k: _round(np.mean([r["rl"][k] for r in runs], 0)) for k in ("kl", "gold", "proxy")
        }
        by_labels[n_labels] = {
            "accuracy": round(float(np.mean([r["accuracy"] for r in runs])), DIGITS),
            "bon": {"n": bon["n"], **_fitted("bon", bon["sqrt_kl"], **bon_mean)},
            "rl": _fitted("rl", _round(np.sqrt(rl_mean["kl"])), rl_mean["gold"], rl_mean["proxy"]),
        }
    return by_labels


def run_overoptimization_study(
    seeds: list[int],
    proxy_labels: Sequence[int] = PROXY_LABELS,
    rl_updates: int = RL_UPDATES,
) -> dict[str, Any]:
    """Every seed and proxy; returns the results.json content."""
    proxy_labels = [int(n) for n in proxy_labels]
    per_seed = [run_seed(seed, proxy_labels, rl_updates) for seed in seeds]
    return assemble(per_seed, proxy_labels, rl_updates)


def assemble(
    per_seed: list[dict[str, Any]], proxy_labels: Sequence[int], rl_updates: int = RL_UPDATES
) -> dict[str, Any]:
    """The results.json content from ``run_seed``'s results (one per seed, run anywhere)."""
    seeds = [seed_result["seed"] for seed_result in per_seed]
    by_labels = summarize(per_seed, proxy_labels)
    headline_labels = HEADLINE_LABELS if HEADLINE_LABELS in proxy_labels else proxy_labels[0]
    headline = by_labels[str(headline_labels)]
    keys = ("sqrt_kl", "gold", "proxy", "fit")
    return {
        "experiment": "overoptimization",
        "gold": f"the {LABELER!r} labeler's true utility",
        "proxy": "bag-of-words Bradley-Terry reward models, normalised under the initial policy",
        "seeds": list(seeds),
        "proxy_labels": proxy_labels,
        "headline_labels": headline_labels,
        "bon": {k: headline["bon"][k] for k in keys},
        "rl": {k: headline["rl"][k] for k in keys},
        "by_labels": by_labels,
        "settings": {
            "n_bon_prompts": N_BON_PROMPTS,
            "n_samples": N_SAMPLES,
            "max_new_tokens": MAX_NEW_TOKENS,
            "rl_updates": rl_updates,
            "rl_config": RL_CONFIG,
            "proxy_training": {"epochs": PROXY_EPOCHS, "lr": PROXY_LR, "batch": PROXY_BATCH},
        },
        "per_seed": per_seed,
    }


def plot_overoptimization_study(results: dict[str, Any], out: Path) -> list[Path]:
    """Gold and proxy against sqrt(KL), best-of-n and RL side by side, one colour per proxy,
    with the fitted gold curves."""
    import matplotlib.pyplot as plt  # noqa: I001

    from rlhf_edu.viz.figures import save_figure  # first: it picks a backend without a screen

    fig = plot_gold_and_proxy(results["by_labels"], len(results["seeds"]))
    written = [save_figure(fig, Path(out) / "overoptimization.png")]
    plt.close(fig)
    return written


def plot_gold_and_proxy(by_labels: dict[str, Any], n_seeds: int, fits: dict | None = None):
    """The figure: gold (solid markers, fitted curve) and proxy (dashed) against sqrt(KL) for
    best-of-n (left) and RL (right). ``fits`` maps ``(method, labels)`` to a fitted curve
    (default: the stored ``fit`` coefficients)."""
    import matplotlib.pyplot as plt

    from rlhf_edu.rlhf.overoptimization import gao_curve

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    colours = plt.cm.viridis(np.linspace(0.0, 0.85, len(by_labels)))
    for ax, method, title in zip(axes, ("bon", "rl"), ("best-of-n (analytic KL)", "RL (PPO)")):
        for colour, (labels, entry) in zip(colours, by_labels.items()):
            curve = entry[method]
            d = np.array(curve["sqrt_kl"])
            ax.plot(d, curve["proxy"], "--", color=colour, alpha=0.6)
            ax.plot(d, curve["gold"], "o", color=colour, ms=4, label=f"{labels} labels")
            grid = np.linspace(0.0, d.max(), 100)
            if fits is not None:
                fitted = fits[(method, labels)](grid)
            else:
                fitted = gao_curve(method, grid, curve["fit"]["alpha"], curve["fit"]["beta"])
            ax.plot(grid, fitted, "-", color=colour)
        ax.axhline(0.0, color="grey", lw=0.5)
        ax.set_xlabel("d = sqrt(KL to the initial policy)")
        ax.set_title(title)
    axes[0].set_ylabel("score minus the initial policy's")
    axes[0].legend(title="proxy trained on", fontsize=8)
    fig.suptitle(
        f"Gold (true utility: dots, Gao et al.'s fit: line) and proxy (dashed) scores; "
        f"{n_seeds} seed(s)",
        fontsize=10,
    )
    fig.tight_layout()
    return fig
