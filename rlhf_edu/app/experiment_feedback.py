"""``rlhf-edu experiment feedback``: which feedback teaches a reward model most per second of a
person's time, how to merge annotators who disagree, and whether choosing what to label helps.

Every label comes from the synthetic annotators of :mod:`rlhf_edu.rlhf.feedback.annotators`,
whose true utility is known, and every reward model is the linear one of
:mod:`rlhf_edu.rlhf.feedback.reward_models`, scored on the same held-out pairs: its pairwise
accuracy against the labels a fresh annotator gives them (ceiling: ``bayes_optimal_accuracy``,
what even the true utility scores against noisy labels).

1. **Forms at equal cost.** For budgets of annotator time (``cost.label_seconds``), each form
   buys a different number of labels; one model per form, budget and seed, each trained on the
   first labels of one seeded collection (nested subsets).
2. **Aggregation.** A pool of two reliable and three unreliable annotators labels the same
   pairs; majority vote, vote shares (soft labels) and the Dawid-Skene posterior each give the
   targets of one model. Agreement: raw pairwise agreement, mean Cohen's kappa, Krippendorff's
   alpha.
3. **Active selection.** From a pool of unlabelled pairs, label in rounds either random pairs or
   those on which an ensemble of five models (bootstrap resamples) disagrees most.
4. **Feedback on a classifier.** A topic classifier of reviews learns from the same number of
   human answers given as labels (supervised), as right/wrong on its guesses (a contextual
   bandit, REINFORCE), or mixed (10% labels, then right/wrong); see
   :mod:`rlhf_edu.rlhf.feedback.classifier`.

Writes ``results.json`` and plots. Deterministic: the same seeds give the same file.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rlhf_edu.rlhf.feedback import (
    Annotator,
    annotator_pool,
    classifier,
    cohen_kappa,
    dawid_skene,
    krippendorff_alpha,
    majority_vote,
    soft_labels,
)
from rlhf_edu.rlhf.feedback.cost import label_seconds, labels_for_budget
from rlhf_edu.rlhf.feedback.reward_models import (
    FORMS,
    FeedbackData,
    HeldOutPairs,
    collect_feedback,
    features_of,
    fit_feedback_reward_model,
)
from rlhf_edu.rlhf.preferences import sample_response_pairs, words
from rlhf_edu.utils.progress import progress

BUDGET_SECONDS = (600, 1800, 3600, 7200)  # 10 minutes to 2 hours of one person's time
EQUAL_COST_SECONDS = 3600
RANKING_K = 4
N_HELD_OUT = 500
N_POOL_PAIRS = 300
ACTIVE_POOL, ACTIVE_START, ACTIVE_STEP, ACTIVE_BUDGET, ENSEMBLE = 1500, 20, 20, 200, 5
CLASSIFIER_ANSWERS = (100, 200, 400, 800, 1600)
RULES = ("majority", "soft", "dawid_skene")
CLASSIFIER_FLIP, CLASSIFIER_LABEL_SHARE, CLASSIFIER_TEST = 0.1, 0.1, 1000


def mean_words_per_response(n: int = 2000) -> float:
    """Average words of a corpus response (what a person reads per response)."""
    triples = sample_response_pairs(n // 2, seed=0)
    return float(np.mean([len(words(r)) for _, a, b in triples for r in (a, b)]))


def _prefix(data: FeedbackData, n: int) -> FeedbackData:
    labels = None if data.labels is None else data.labels[:n]
    return FeedbackData(data.form, data.phi[:n], labels)


def held_out_pairs(seed: int) -> HeldOutPairs:
    """The test pairs of one seed, labelled by a fresh default annotator."""
    return HeldOutPairs(Annotator(), N_HELD_OUT, seed)


def forms_at_equal_cost(seed: int, held_out: HeldOutPairs, words_per_response: float) -> dict:
    """Accuracy (and correlation with the true utility) of each form's model at each budget,
    trained on nested subsets of one collection: the first ``n`` answers of seed
    ``100 * seed + 1``."""
    annotator = Annotator()
    by_form = {}
    for form in FORMS:
        n_labels = [
            labels_for_budget(form, s, words_per_response, RANKING_K) for s in BUDGET_SECONDS
        ]
        data = collect_feedback(form, annotator, max(n_labels), seed=100 * seed + 1, k=RANKING_K)
        if form == "edits":  # n answers, not n pairs: an unchanged response costs but gives none
            subsets = [collect_feedback(form, annotator, n, 100 * seed + 1) for n in n_labels]
        else:  # the same seed gives the same first n answers
            subsets = [_prefix(data, n) for n in n_labels]
        models = [fit_feedback_reward_model(subset, seed=seed) for subset in subsets]
        by_form[form] = {
            "labels": n_labels,
            "accuracy": [held_out.accuracy(model) for model in models],
            "correlation": [held_out.correlation(model) for model in models],
        }
    return by_form


def pool_labels(seed: int) -> tuple[list[tuple[str, str, str]], np.ndarray, list[Annotator]]:
    """Every annotator of a disagreeing pool (2 reliable, 3 unreliable) labels the same pairs:
    labels (pairs, annotators), 1 where the first response was preferred."""
    pool = annotator_pool(n_reliable=2, n_unreliable=3, seed=seed)
    triples = sample_response_pairs(N_POOL_PAIRS, seed=30_000 + seed)
    rng = np.random.default_rng(40_000 + seed)
    labels = np.array([[int(a.compare(p, x, y, rng)) for a in pool] for p, x, y in triples])
    return triples, labels, pool


def aggregation(seed: int, held_out: HeldOutPairs) -> dict[str, Any]:
    """One reward model per aggregation rule, and the pool's agreement statistics.

    Each rule is scored three ways: the merged labels' agreement with the true order of the
    pool's pairs (``label_accuracy``), and its reward model's held-out accuracy against a fresh
    annotator's labels (``accuracy``, ceiling ``bayes``) and against the true order
    (``true_accuracy``)."""
    triples, labels, pool = pool_labels(seed)
    truth = np.array([pool[0].u(p, a) > pool[0].u(p, b) for p, a, b in triples])
    phi = torch.stack([features_of(p, [a, b]) for p, a, b in triples])
    posterior, confusion = dawid_skene(labels, n_classes=2)
    targets = {
        "majority": majority_vote(labels, 2).astype(float),
        "soft": soft_labels(labels, 2)[:, 1],
        "dawid_skene": posterior[:, 1],
    }
    models = {
        rule: fit_feedback_reward_model(
            FeedbackData("pairs", phi, torch.as_tensor(q, dtype=torch.float32)), seed=seed
        )
        for rule, q in targets.items()
    }
    pairs_of_annotators = list(itertools.combinations(range(len(pool)), 2))
    return {
        "accuracy": {rule: held_out.accuracy(m) for rule, m in models.items()},
        "true_accuracy": {rule: held_out.true_accuracy(m) for rule, m in models.items()},
        "label_accuracy": {  # the merged label (q > 1/2) against the true order
            rule: float(np.mean((q > 0.5) == truth)) for rule, q in targets.items()
        },
        "pairwise_agreement": float(
            np.mean([np.mean(labels[:, i] == labels[:, j]) for i, j in pairs_of_annotators])
        ),
        "cohen_kappa": float(
            np.mean([cohen_kappa(labels[:, i], labels[:, j]) for i, j in pairs_of_annotators])
        ),
        "krippendorff_alpha": float(krippendorff_alpha(labels)),
        "estimated_accuracy": {  # Dawid-Skene's P(annotator says the truth), per annotator
            a.name: float(np.mean(np.diag(confusion[j]))) for j, a in enumerate(pool)
        },
    }


def active_vs_random(seed: int, held_out: HeldOutPairs) -> dict[str, Any]:
    """Accuracy after each round of labelling, choosing pairs at random or by disagreement:
    against the held-out annotator's labels (``random``, ``active``) and against the true order
    (``true_accuracy``)."""
    annotator = Annotator()
    triples = sample_response_pairs(ACTIVE_POOL, seed=50_000 + seed)
    phi = torch.stack([features_of(p, [a, b]) for p, a, b in triples])  # (pool, 2, F)
    label_rng = np.random.default_rng(60_000 + seed)
    first_better = np.array([annotator.compare(p, a, b, label_rng) for p, a, b in triples])
    budgets = list(range(ACTIVE_START, ACTIVE_BUDGET + 1, ACTIVE_STEP))

    def fit(indices: np.ndarray, model_seed: int) -> torch.nn.Module:
        rows = phi[indices]
        swap = torch.as_tensor(~first_better[indices])  # chosen first
        rows = torch.where(swap[:, None, None], rows.flip(1), rows)
        return fit_feedback_reward_model(FeedbackData("pairs", rows), seed=model_seed, epochs=200)

    curves: dict[str, Any] = {"true_accuracy": {}}
    for strategy in ("random", "active"):
        rng = np.random.default_rng(70_000 + seed)
        chosen = rng.choice(ACTIVE_POOL, ACTIVE_START, replace=False)
        curve, true_curve = [], []
        for n in budgets:
            model = fit(chosen, seed)
            curve.append(held_out.accuracy(model))
            true_curve.append(held_out.true_accuracy(model))
            if n == budgets[-1]:
                break
            remaining = np.setdiff1d(np.arange(ACTIVE_POOL), chosen)
            if strategy == "random":
                new = rng.choice(remaining, ACTIVE_STEP, replace=False)
            else:  # the pairs the bootstrap ensemble disagrees on most
                p_first = []
                for member in range(ENSEMBLE):
                    model = fit(rng.choice(chosen, len(chosen), replace=True), member)
                    with torch.no_grad():
                        margin = model(phi[remaining, 0]) - model(phi[remaining, 1])
                    p_first.append(torch.sigmoid(margin).numpy())
                disagreement = np.std(p_first, axis=0)
                new = remaining[np.argsort(-disagreement, kind="stable")[:ACTIVE_STEP]]
            chosen = np.concatenate([chosen, new])
        curves[strategy] = curve
        curves["true_accuracy"][strategy] = true_curve
    curves["labels"] = budgets
    return curves


def classifier_feedback(seed: int) -> dict[str, dict[str, list[float]]]:
    """Accuracy and macro-F1 of the topic classifier for each kind of answer and count."""
    phi_test, y_test = classifier.review_topics(CLASSIFIER_TEST, seed=80_000 + seed)
    phi, y = classifier.review_topics(max(CLASSIFIER_ANSWERS), seed=81_000 + seed)
    scores: dict[str, dict[str, list[float]]] = {"accuracy": {}, "macro_f1": {}}
    for kind in ("supervised", "bandit", "mixed"):
        for measure in scores:
            scores[measure][kind] = []
        for n in CLASSIFIER_ANSWERS:
            rng = np.random.default_rng(82_000 + seed)
            if kind == "supervised":
                labels = classifier.noisy_labels(y[:n], CLASSIFIER_FLIP, rng)
                model = classifier.train_supervised(phi[:n], labels, seed=seed)
            elif kind == "bandit":
                model = classifier.train_bandit(phi[:n], y[:n], CLASSIFIER_FLIP, seed=seed)
            else:
                n_labels = max(1, round(CLASSIFIER_LABEL_SHARE * n))
                model = classifier.train_mixed(phi[:n], y[:n], n_labels, CLASSIFIER_FLIP, seed)
            with torch.no_grad():
                predicted = model(phi_test).argmax(dim=1)
            scores["accuracy"][kind].append(float((predicted == y_test).float().mean()))
            scores["macro_f1"][kind].append(classifier.macro_f1(predicted, y_test))
    return scores


def run_feedback_study(seeds: list[int]) -> dict[str, Any]:
    """All three parts over ``seeds``; returns the results.json content."""
    words_per_response = mean_words_per_response()
    per_seed: list[dict[str, Any]] = []
    for seed in progress(seeds, desc="feedback: seeds"):
        held_out = held_out_pairs(seed)
        per_seed.append(
            {
                "bayes": held_out.bayes,
                "forms": forms_at_equal_cost(seed, held_out, words_per_response),
                "aggregation": aggregation(seed, held_out),
                "active": active_vs_random(seed, held_out),
                "classifier": classifier_feedback(seed),
            }
        )

    def mean(values: list[Any]) -> Any:
        return np.round(np.mean(np.asarray(values, dtype=float), axis=0), 6).tolist()

    reference = BUDGET_SECONDS.index(EQUAL_COST_SECONDS)
    forms = {
        form: {
            "seconds_per_label": round(label_seconds(form, words_per_response, RANKING_K), 3),
            "seconds": list(BUDGET_SECONDS),
            "labels": per_seed[0]["forms"][form]["labels"],
            "per_seed": [s["forms"][form]["accuracy"] for s in per_seed],
            "mean": mean([s["forms"][form]["accuracy"] for s in per_seed]),
            "correlation_per_seed": [s["forms"][form]["correlation"] for s in per_seed],
            "correlation": mean([s["forms"][form]["correlation"] for s in per_seed]),
        }
        for form in FORMS
    }
    aggregated = [s["aggregation"] for s in per_seed]
    return {
        "experiment": "feedback",
        "seeds": list(seeds),
        "words_per_response": round(words_per_response, 3),
        "equal_cost_seconds": EQUAL_COST_SECONDS,
        "accuracy_at_equal_cost": {
            form: round(float(forms[form]["mean"][reference]), 6) for form in FORMS
        },
        "bayes_optimal_accuracy": round(float(np.mean([s["bayes"] for s in per_seed])), 6),
        "bayes_per_seed": [s["bayes"] for s in per_seed],
        "forms": forms,
        "aggregation": {
            rule: round(float(np.mean([a["accuracy"][rule] for a in aggregated])), 6)
            for rule in RULES
        },
        "aggregation_details": {
            score: {
                rule: round(float(np.mean([a[score][rule] for a in aggregated])), 6)
                for rule in RULES
            }
            for score in ("label_accuracy", "true_accuracy")
        },
        "aggregation_per_seed": [
            {score: a[score] for score in ("accuracy", "true_accuracy", "label_accuracy")}
            for a in aggregated
        ],
        "agreement": {
            stat: round(float(np.mean([a[stat] for a in aggregated])), 6)
            for stat in ("pairwise_agreement", "cohen_kappa", "krippendorff_alpha")
        },
        "dawid_skene_annotator_accuracy": [a["estimated_accuracy"] for a in aggregated],
        "active_vs_random": {
            "labels": per_seed[0]["active"]["labels"],
            "active": mean([s["active"]["active"] for s in per_seed]),
            "random": mean([s["active"]["random"] for s in per_seed]),
            "true_accuracy": {
                k: mean([s["active"]["true_accuracy"][k] for s in per_seed])
                for k in ("active", "random")
            },
            "per_seed": [
                {k: s["active"][k] for k in ("active", "random", "true_accuracy")} for s in per_seed
            ],
        },
        "classifier": {
            "answers": list(CLASSIFIER_ANSWERS),
            "flip_prob": CLASSIFIER_FLIP,
            **{
                kind: mean([s["classifier"]["accuracy"][kind] for s in per_seed])
                for kind in ("bandit", "supervised", "mixed")
            },
            "macro_f1": {
                kind: mean([s["classifier"]["macro_f1"][kind] for s in per_seed])
                for kind in ("bandit", "supervised", "mixed")
            },
        },
    }


def plot_feedback_study(results: dict[str, Any], out: Path) -> list[Path]:
    """Accuracy against labels and against cost per form; aggregation; active vs random."""
    import matplotlib.pyplot as plt  # noqa: I001

    from rlhf_edu.viz.figures import save_figure  # first: it picks a backend without a screen

    written = []
    bayes = results["bayes_optimal_accuracy"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for form, curve in results["forms"].items():
        rows = np.array(curve["per_seed"])
        for ax, x in zip(axes, (curve["labels"], np.array(curve["seconds"]) / 60)):
            ax.plot(x, rows.mean(0), marker="o", label=form)
            ax.fill_between(x, rows.min(0), rows.max(0), alpha=0.15)
    for ax, xlabel in zip(axes, ("labels", "annotator minutes (cost model)")):
        ax.axhline(bayes, color="k", linestyle=":", label="Bayes ceiling")
        ax.set_xscale("log")
        ax.set_xlabel(xlabel)
    axes[0].set_ylabel("held-out pairwise accuracy")
    axes[0].set_title("per label")
    axes[1].set_title("per minute of a person's time")
    axes[1].legend(fontsize=8)
    fig.suptitle(f"Reward models from each form of feedback ({len(results['seeds'])} seeds)")
    fig.tight_layout()
    written.append(save_figure(fig, out / "forms.png"))
    plt.close(fig)

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    rules = list(results["aggregation"])
    axes[0].bar(rules, [results["aggregation"][r] for r in rules], color="#4c72b0")
    axes[0].axhline(bayes, color="k", linestyle=":", label="Bayes ceiling")
    axes[0].set_ylim(0.5, 1.0)
    axes[0].set_title("2 reliable + 3 unreliable annotators: merge rule")
    axes[0].set_ylabel("held-out pairwise accuracy")
    axes[0].legend()
    active = results["active_vs_random"]
    for strategy in ("random", "active"):
        axes[1].plot(active["labels"], active[strategy], marker="o", label=strategy)
    axes[1].axhline(bayes, color="k", linestyle=":")
    axes[1].set_xlabel("labelled pairs")
    axes[1].set_title("which pairs to label: ensemble disagreement vs random")
    axes[1].legend()
    fig.tight_layout()
    written.append(save_figure(fig, out / "aggregation_and_active.png"))
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6.4, 4))
    cls = results["classifier"]
    for kind in ("supervised", "mixed", "bandit"):
        ax.plot(cls["answers"], cls[kind], marker="o", label=kind)
    ax.axhline(1 / classifier.N_TOPICS, color="k", linestyle=":", label="chance")
    ax.set_xscale("log")
    ax.set_xlabel("human answers")
    ax.set_ylabel("held-out accuracy (8 topics)")
    ax.set_title("A classifier from labels vs from right/wrong on its guesses")
    ax.legend()
    fig.tight_layout()
    written.append(save_figure(fig, out / "classifier.png"))
    plt.close(fig)
    return written


def main(argv: list[str] | None = None) -> int:
    """``python -m rlhf_edu.app.experiment_feedback``: the packaged 3-seed study of notebook 12
    (``rlhf_edu/data/feedback_study.json``)."""
    import argparse

    from rlhf_edu.data import FEEDBACK_STUDY_PATH, write_feedback_study

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0 .. N-1 (default 3)")
    parser.add_argument("--out", default=str(FEEDBACK_STUDY_PATH), help="the JSON file to write")
    args = parser.parse_args(argv)
    path = write_feedback_study(run_feedback_study(list(range(args.seeds))), args.out)
    print(f"feedback study: {args.seeds} seed(s) in {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
