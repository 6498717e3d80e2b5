"""Plots of the RLHF track: next-token distributions, KL estimates, reward models, RLHF runs.

Every function returns the matplotlib Figure (save it with ``rlhf_edu.viz.save_figure``).
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

import rlhf_edu.viz.figures  # noqa: F401  (picks a headless backend where there is no display)


def plot_next_token_distributions(
    tokens: Sequence[str],
    probs_by_temperature: dict[float, np.ndarray],
    title: str = "Next-token distribution",
) -> Figure:
    """Bar charts of pi(token | context) at several temperatures, one group per token."""
    fig, ax = plt.subplots(figsize=(8, 3.5))
    n = len(probs_by_temperature)
    width = 0.8 / max(n, 1)
    x = np.arange(len(tokens))
    for k, (temperature, probs) in enumerate(sorted(probs_by_temperature.items())):
        ax.bar(x + (k - (n - 1) / 2) * width, probs, width, label=f"T = {temperature:g}")
    ax.set_xticks(x)
    ax.set_xticklabels([repr(t) for t in tokens], rotation=45, ha="right")
    ax.set_ylabel("probability")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig


def plot_kl_estimates(
    n_samples: np.ndarray,
    estimates: dict[str, np.ndarray],
    exact: float,
    title: str = "KL(pi || pi_ref): sampling estimates vs the exact value",
    xlabel: str = "number of samples",
) -> Figure:
    """Running Monte Carlo estimates of a KL (one line per estimator) and the exact value."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, values in estimates.items():
        ax.plot(n_samples, values, label=name)
    ax.axhline(exact, color="black", linestyle="--", label=f"exact = {exact:.3g}")
    ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("KL estimate (nats)")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig


def plot_reward_vs_utility(
    true_utility: np.ndarray,
    learned_reward: np.ndarray,
    title: str = "Learned reward vs the labeler's true utility",
) -> Figure:
    """Scatter of the reward model's score against the hidden utility, with their correlation."""
    true_utility = np.asarray(true_utility, dtype=float)
    learned_reward = np.asarray(learned_reward, dtype=float)
    if true_utility.shape != learned_reward.shape:
        raise ValueError(
            f"true_utility and learned_reward must have the same shape, got "
            f"{true_utility.shape} and {learned_reward.shape}"
        )
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    ax.scatter(true_utility, learned_reward, s=8, alpha=0.4)
    slope, intercept = np.polyfit(true_utility, learned_reward, 1)
    xs = np.linspace(true_utility.min(), true_utility.max(), 50)
    ax.plot(xs, slope * xs + intercept, color="C1", label="least-squares line")
    r = np.corrcoef(true_utility, learned_reward)[0, 1]
    ax.set_xlabel("true utility u(x, y) (hidden from the model)")
    ax.set_ylabel("learned reward r(x, y) (normalized)")
    ax.set_title(f"{title}\ncorrelation {r:.2f}")
    ax.legend()
    fig.tight_layout()
    return fig


def plot_accuracy_vs_pairs(
    n_pairs: Sequence[int],
    accuracy: np.ndarray,
    bayes_optimal: float,
    title: str = "What human feedback costs: accuracy vs number of labeled pairs",
) -> Figure:
    """Held-out accuracy against the number of training pairs (log x), with the Bayes ceiling.

    ``accuracy`` is (n_points,) or (n_seeds, n_points); with several seeds the band spans them.
    """
    acc = np.atleast_2d(np.asarray(accuracy, dtype=float))
    n_pairs = np.asarray(n_pairs)
    if acc.shape[1] != len(n_pairs):
        raise ValueError(
            f"accuracy must have one column per n_pairs entry ({len(n_pairs)}), got {acc.shape}"
        )
    fig, ax = plt.subplots(figsize=(6.5, 4))
    mean = acc.mean(0)
    ax.plot(n_pairs, mean, marker="o", label="reward model (held-out)")
    if acc.shape[0] > 1:
        ax.fill_between(n_pairs, acc.min(0), acc.max(0), alpha=0.25)
    ax.axhline(
        bayes_optimal, color="black", linestyle="--", label=f"Bayes-optimal {bayes_optimal:.3f}"
    )
    ax.axhline(0.5, color="grey", linestyle=":", label="chance")
    ax.set_xscale("log")
    ax.set_xlabel("labeled pairs used for training")
    ax.set_ylabel("pairwise accuracy")
    ax.set_ylim(0.45, 1.0)
    ax.set_title(title)
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def _runs_of(runs) -> dict[str, list[list[dict]]]:
    """``History`` | list of rows | {label: History or [History, ...]} -> {label: [rows, ...]}."""
    if hasattr(runs, "rows") or (isinstance(runs, list) and runs and isinstance(runs[0], dict)):
        runs = {"PPO": [runs]}
    out = {}
    for label, value in runs.items():
        several = isinstance(value, (list, tuple)) and value and not isinstance(value[0], dict)
        seeds = value if several else [value]
        out[label] = [list(getattr(s, "rows", s)) for s in seeds]
    return out


def plot_ppo_training(
    runs,
    metrics: tuple[str, ...] = ("reward", "true_utility", "kl"),
    kl_target: float | None = None,
    title: str | None = None,
) -> Figure:
    """RLHF PPO curves over updates: reward-model score, true utility and KL, one panel each.

    ``runs`` is one ``History`` (or its rows), or ``{label: [History per seed, ...]}``; with
    several seeds the line is their mean and the band one standard error. ``kl_target`` draws the
    adaptive controller's target on the KL panel.
    """
    names = {
        "reward": "reward-model score",
        "true_utility": "true utility (labeler)",
        "kl": "KL(policy || reference), nats",
        "kl_coef": "KL coefficient beta",
        "response_length": "response length (tokens)",
    }
    data = _runs_of(runs)
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.4), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for label, seeds in data.items():
            curves = [[row[metric] for row in rows if metric in row] for rows in seeds]
            curves = [c for c in curves if c]
            if not curves:
                continue
            n = min(len(c) for c in curves)
            values = np.array([c[:n] for c in curves], dtype=float)
            mean = values.mean(0)
            x = np.arange(n)
            (line,) = ax.plot(x, mean, label=label)
            if len(values) > 1:
                se = values.std(0, ddof=1) / np.sqrt(len(values))
                ax.fill_between(x, mean - se, mean + se, color=line.get_color(), alpha=0.2)
        if metric == "kl" and kl_target is not None:
            ax.axhline(kl_target, color="grey", ls="--", lw=1, label="KL target (adaptive KL)")
            ax.legend(fontsize=8)
        ax.set_xlabel("PPO update")
        ax.set_ylabel(names.get(metric, metric))
        ax.set_title(names.get(metric, metric))
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_utility_vs_kl(
    methods,
    ylabel: str = "true utility (labeler)",
    title: str | None = "True utility against KL from the reference",
    baseline: float | None = None,
    symlog_kl: bool = False,
) -> Figure:
    """One point (or curve) per method: x = KL(policy || reference) in nats, y = true utility.

    ``methods`` maps a label to ``(kls, utilities)`` (sequences of equal length, drawn as a line
    with markers, e.g. best-of-n for n = 1, 2, 4, ... or PPO over training) or to ``(kl, utility)``
    scalars (one marker). ``baseline`` draws the reference policy's utility; ``symlog_kl`` makes
    the KL axis linear up to 1 nat and logarithmic beyond (for runs that drift very far).
    """
    fig, ax = plt.subplots(figsize=(6, 4.2))
    markers = iter(["o", "s", "^", "D", "v", "P", "X"])
    for label, (kls, utilities) in methods.items():
        kls, utilities = np.atleast_1d(kls).astype(float), np.atleast_1d(utilities).astype(float)
        ax.plot(kls, utilities, marker=next(markers, "o"), label=label)
    if baseline is not None:
        ax.axhline(
            baseline,
            color="grey",
            ls="--",
            lw=1,
            label=f"reference policy, before fine-tuning ({baseline:.2f})",
        )
    if symlog_kl:
        ax.set_xscale("symlog", linthresh=1.0)
        ax.set_xlim(left=0.0)
    ax.set_xlabel("KL(policy || reference), nats")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_reward_model_accuracy(
    accuracy: float,
    bayes_optimal: float,
    expected_accuracy: float | None = None,
    n_eval_pairs: int | None = None,
    title: str = "Reward model: held-out accuracy against the Bayes ceiling",
) -> Figure:
    """Bars of the reward model's pairwise accuracy, with the Bayes-optimal ceiling and chance.

    The labels are noisy (Bradley-Terry with a known temperature), so even the true utility
    agrees with only ``bayes_optimal`` of them: no model can score above that line on average.
    ``accuracy`` is measured against the held-out labels; ``expected_accuracy`` averages over the
    label noise (the same ceiling applies, with less sampling noise).
    """
    bars = {"held-out accuracy\n(against the noisy labels)": accuracy}
    if expected_accuracy is not None:
        bars["expected accuracy\n(averaged over label noise)"] = expected_accuracy
    fig, ax = plt.subplots(figsize=(6.2, 4.2))
    positions = np.arange(len(bars))
    ax.bar(positions, list(bars.values()), width=0.55, color=["C0", "C2"][: len(bars)])
    for x, value in zip(positions, bars.values()):
        ax.text(x, value + 0.008, f"{value:.4f}", ha="center", va="bottom")
    ax.axhline(
        bayes_optimal,
        color="black",
        ls="--",
        label=f"Bayes-optimal ceiling {bayes_optimal:.4f}: the true utility's own accuracy",
    )
    ax.axhline(0.5, color="grey", ls=":", label="chance 0.5: a coin flip")
    ax.set_xticks(positions, list(bars))
    ax.set_xlim(-0.6, len(bars) - 0.4)
    ax.set_ylim(0.4, 1.0)
    pairs = f" ({n_eval_pairs} pairs)" if n_eval_pairs else ""
    ax.set_ylabel(f"pairwise accuracy on held-out pairs{pairs}")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def plot_reward_hacking(
    runs: dict[str, list[list[dict]]],
    final: dict[str, dict[str, float]] | None = None,
    title: str = "Reward hacking: without a KL penalty the score rises while the true utility falls",
) -> Figure:
    """Reward-model score and true utility over PPO updates, one line per setting (seed mean).

    ``runs`` maps a setting (e.g. "adaptive KL", "no KL penalty") to per-seed lists of history
    rows with ``reward`` and ``true_utility``. ``final`` maps a setting to its held-out
    evaluation after training (``reward``, ``true_utility``), drawn as a marker after the last
    update with its value written beside it.
    """
    panels = {
        "reward": "reward-model score (what PPO maximises)",
        "true_utility": "true utility (the labeler's hidden goal)",
    }
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 4.0))
    for ax, (metric, ylabel) in zip(axes, panels.items()):
        for i, (label, seeds) in enumerate(runs.items()):
            n = min(len(rows) for rows in seeds)
            mean = np.array([[row[metric] for row in rows[:n]] for rows in seeds]).mean(0)
            ax.plot(
                np.arange(n), mean, color=f"C{i}", label=f"{label} (per update, training batch)"
            )
            if final is not None and label in final:
                value = final[label][metric]
                ax.plot([n], [value], marker="o", color=f"C{i}", ls="none")
                ax.annotate(f"{value:.2f}", (n, value), xytext=(5, 0), textcoords="offset points",
                            va="center", fontsize=8, color=f"C{i}")  # fmt: skip
        ax.set_xlabel("PPO update")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    if final is not None:
        axes[0].plot([], [], marker="o", color="grey", ls="none", label="held-out, after training")
    axes[0].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
