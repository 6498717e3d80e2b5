"""``rlhf-edu experiment cost``: what each way of using human feedback costs, and what it buys.

The stages, at the operating points the course uses (``OperatingPoints``; notebooks 09-11):

- **labels**: the reward model's 16,000 pairs and DPO's 384 pairs, priced by the stated
  seconds-per-label model (``feedback.cost``) in person-seconds and, at a stated hourly wage,
  in money (``compute_cost``);
- **reward model**: the course's default (one pass over 16,000 pairs, batches of 32);
- **PPO**: 60 updates of 64 episodes (``ppo_experiment``'s stored runs);
- **DPO**: 2 epochs over 384 pairs (notebook 11);
- **best-of-16** and plain **sampling**, on the 128 held-out prompts.

Compute is measured twice per stage, on the stage's first ``measured`` units (steps, updates or
prompts): once timed (the process's CPU seconds), once under ``FlopCounterMode``; both are
scaled to the operating point (``operating / measured``), so long stages stay within a few
minutes. FLOPs are deterministic; the CPU time (and the CPU energy from it) depends on the
machine, so it is kept apart under ``"wall_clock"`` and never compared by tests.

Utility: the labeler's true utility on the held-out prompts minus the base model's. PPO's comes
from the stored runs (``rlhf_edu.data.load_ppo_curves``, 60 updates, one per seed); DPO and
best-of-n are run here, one per seed. Best-of-m for m < 16 keeps the best of each prompt's
first m candidates (the same samples), at m / 16 of the cost. Each pipeline adds up its stages:
PPO = labels + reward model + PPO + sampling; DPO = labels + DPO + sampling; best-of-m = labels
+ reward model + best-of-m.

Writes ``results.json``, ``cost_table.md`` (the stage and pipeline tables) and ``cost.png``
(utility gained against person-hours and against joules).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rlhf_edu.rlhf import compute_cost
from rlhf_edu.utils.progress import progress
from rlhf_edu.utils.validation import check_float, check_int

#: The stages of the table, in order: name -> what it is.
STAGES = {
    "labels_reward_model": "labels: pairs for the reward model",
    "labels_dpo": "labels: pairs for DPO",
    "reward_model": "reward-model training",
    "ppo": "PPO training",
    "dpo": "DPO training",
    "best_of_16": "best-of-16 (sample 16, score 16 per prompt)",
    "sampling": "sampling one response per prompt",
}
BEST_OF = (2, 4, 8, 16)
LABELER = "mix"


@dataclass(frozen=True)
class OperatingPoints:
    """The course's operating points and how much of each stage is measured (validated)."""

    rm_pairs: int = 16_000  # reward_model.DEFAULT_N_PAIRS
    rm_batch_size: int = 32
    rm_measured_steps: int = 8
    ppo_updates: int = 60  # ppo_experiment.N_UPDATES
    ppo_measured_updates: int = 2
    dpo_pairs: int = 384  # notebook 11
    dpo_epochs: int = 2
    dpo_batch_size: int = 32
    dpo_measured_steps: int = 4
    eval_prompts: int = 128  # ppo_experiment.N_EVAL_PROMPTS
    best_of: int = 16
    bon_measured_prompts: int = 8
    max_new_tokens: int = 32
    ppo_changes: tuple[tuple[str, Any], ...] = ()  # changes to RLHFPPOConfig (tests shrink it)

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if name != "ppo_changes":
                check_int(name, value)
        pairs = (
            ("rm_measured_steps", self.rm_measured_steps, "rm_steps", self.rm_steps),
            ("ppo_measured_updates", self.ppo_measured_updates, "ppo_updates", self.ppo_updates),
            ("dpo_measured_steps", self.dpo_measured_steps, "dpo_steps", self.dpo_steps),
            (
                "bon_measured_prompts",
                self.bon_measured_prompts,
                "eval_prompts",
                self.eval_prompts,
            ),
        )
        for name, measured, whole_name, whole in pairs:
            if measured > whole:
                raise ValueError(f"{name} ({measured}) must be <= {whole_name} ({whole})")
        if max(BEST_OF) != self.best_of:
            raise ValueError(f"best_of must be {max(BEST_OF)} (the table's best-of-{BEST_OF})")

    @property
    def rm_steps(self) -> int:
        return -(-self.rm_pairs // self.rm_batch_size)

    @property
    def dpo_steps(self) -> int:
        return self.dpo_epochs * -(-self.dpo_pairs // self.dpo_batch_size)


#: The operating points ``run_cost_study`` uses by default (the tests shrink them).
POINTS = OperatingPoints()


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    """``fn()`` and the CPU seconds it took (the process's, all threads: another job on the
    machine does not inflate it as it does the wall time)."""
    started = time.process_time()
    result = fn()
    return result, time.process_time() - started


def _stage(
    description: str, operating_units: int, measured_units: int, flops: int, seconds: float
) -> dict[str, Any]:
    scale = operating_units / measured_units
    return {
        "operating_point": description,
        "operating_units": operating_units,
        "measured_units": measured_units,
        "flops": int(round(flops * scale)),
        "seconds": seconds * scale,  # wall clock: moved under "wall_clock" by the study
    }


def _label_stage(pairs, description: str) -> dict[str, Any]:
    from rlhf_edu.rlhf.feedback.cost import label_seconds
    from rlhf_edu.rlhf.preferences import words

    n_words = float(np.mean([len(words(p.chosen)) + len(words(p.rejected)) for p in pairs]) / 2)
    per_label = label_seconds("pairs", n_words)
    return {
        "operating_point": description,
        "labels": len(pairs),
        "words_per_response": n_words,
        "seconds_per_label": per_label,
        "person_seconds": len(pairs) * per_label,
        "flops": 0,
        "seconds": 0.0,
    }


def measure_stages(points: OperatingPoints, seed: int = 0) -> dict[str, dict[str, Any]]:
    """Labels, FLOPs and (scaled) wall time of every stage of ``STAGES``."""
    from rlhf_edu.app.ppo_experiment import course_trainer, eval_prompts_for
    from rlhf_edu.rlhf.best_of_n import best_of_n
    from rlhf_edu.rlhf.dpo import DPOConfig, train_dpo
    from rlhf_edu.rlhf.lm import load_tiny_lm
    from rlhf_edu.rlhf.ppo import RLHFPPOConfig
    from rlhf_edu.rlhf.preferences import get_labeler, make_synthetic_pairs
    from rlhf_edu.rlhf.reward_model import (
        DEFAULT_CONFIG,
        load_default_reward_model,
        train_reward_model,
    )

    labeler = get_labeler(LABELER)
    stages: dict[str, dict[str, Any]] = {}
    rm_pairs = make_synthetic_pairs(labeler, points.rm_pairs, seed=seed)
    stages["labels_reward_model"] = _label_stage(rm_pairs, f"{points.rm_pairs} pairs")
    dpo_pairs = make_synthetic_pairs(labeler, points.dpo_pairs, seed=seed)
    stages["labels_dpo"] = _label_stage(dpo_pairs, f"{points.dpo_pairs} pairs")

    # the reward model: its first steps, as the default recipe runs them
    lm = load_tiny_lm()
    rm_config = dataclasses.replace(DEFAULT_CONFIG, eval_at=(), batch_size=points.rm_batch_size)
    prefix = rm_pairs[: points.rm_measured_steps * points.rm_batch_size]
    eval_pair = rm_pairs[-2:]  # the loop evaluates once at its end: two pairs, a negligible cost

    def train_rm():
        return train_reward_model(prefix, rm_config, eval_pairs=eval_pair, lm=lm, seed=seed)

    _, seconds = _timed(train_rm)
    _, flops = compute_cost.count_flops(train_rm)
    stages["reward_model"] = _stage(
        f"{points.rm_pairs} pairs, batches of {points.rm_batch_size}, 1 epoch "
        f"({points.rm_steps} steps)",
        points.rm_steps,
        points.rm_measured_steps,
        flops,
        seconds,
    )

    # PPO: the first updates timed, the next ones counted
    config = RLHFPPOConfig().replace(**dict(points.ppo_changes))
    trainer = course_trainer(seed, config)
    k = points.ppo_measured_updates
    _, seconds = _timed(lambda: [trainer.step() for _ in range(k)])
    _, flops = compute_cost.count_flops(lambda: [trainer.step() for _ in range(k)])
    stages["ppo"] = _stage(
        f"{points.ppo_updates} updates of {config.batch_size} episodes, {config.ppo_epochs} epochs",
        points.ppo_updates,
        k,
        flops,
        seconds,
    )

    # DPO: the reference pass and the first steps (on a prefix of the pairs, one epoch)
    dpo_config = DPOConfig(beta=0.1, learning_rate=3e-4, batch_size=points.dpo_batch_size, epochs=1)
    dpo_prefix = dpo_pairs[: points.dpo_measured_steps * points.dpo_batch_size]

    def train_dpo_prefix():
        policy, tokenizer = load_tiny_lm()
        return train_dpo(policy, tokenizer, dpo_prefix, dpo_config, seed=seed, show_progress=False)

    _, seconds = _timed(train_dpo_prefix)
    _, flops = compute_cost.count_flops(train_dpo_prefix)
    stages["dpo"] = _stage(
        f"{points.dpo_pairs} pairs, {points.dpo_epochs} epochs of batches of "
        f"{points.dpo_batch_size} ({points.dpo_steps} steps)",
        points.dpo_steps,
        points.dpo_measured_steps,
        flops,
        seconds,
    )

    # best-of-n and plain sampling on the first prompts of the held-out set
    base, tokenizer = load_tiny_lm()
    reward_model = load_default_reward_model()
    prompts = eval_prompts_for(seed, points.eval_prompts)[: points.bon_measured_prompts]

    def no_reward(batch_prompts, responses):
        import torch

        return torch.zeros(len(responses))

    for name, n, reward in (
        ("best_of_16", points.best_of, reward_model),
        ("sampling", 1, no_reward),
    ):

        def run(n=n, reward=reward):
            return best_of_n(
                base, tokenizer, prompts, reward, n=n, max_new_tokens=points.max_new_tokens,
                seed=seed,
            )  # fmt: skip

        _, seconds = _timed(run)
        _, flops = compute_cost.count_flops(run)
        stages[name] = _stage(
            f"{points.eval_prompts} prompts, {n} response(s) of <= {points.max_new_tokens} tokens"
            + (", each scored by the reward model" if n > 1 else ""),
            points.eval_prompts,
            points.bon_measured_prompts,
            flops,
            seconds,
        )
    return stages


def utility_gains(points: OperatingPoints, seed: int) -> dict[str, dict[str, float]]:
    """Held-out true utility minus the base model's, and KL to it, for DPO and best-of-m
    (run here) and PPO (the stored run of ``seed``): ``{pipeline: {"gain", "kl"}}``."""
    from rlhf_edu.app.ppo_experiment import eval_prompts_for
    from rlhf_edu.data import load_ppo_curves
    from rlhf_edu.rlhf.best_of_n import best_of_n, best_of_n_kl
    from rlhf_edu.rlhf.dpo import DPOConfig, train_dpo
    from rlhf_edu.rlhf.generation import sample_and_score
    from rlhf_edu.rlhf.lm import load_tiny_lm
    from rlhf_edu.rlhf.preferences import get_labeler, make_synthetic_pairs
    from rlhf_edu.rlhf.reward_model import load_default_reward_model

    stored = load_ppo_curves()
    if seed not in stored["seeds"]:
        raise ValueError(f"seeds must be among the stored PPO runs' {stored['seeds']}, got {seed}")
    run = stored["settings"]["adaptive KL"][stored["seeds"].index(seed)]
    if stored["n_updates"] != points.ppo_updates:
        raise ValueError(
            f"ppo_updates ({points.ppo_updates}) must be the stored runs' {stored['n_updates']}"
        )
    gains = {
        "ppo": {
            "gain": run["after"]["true_utility"] - run["before"]["true_utility"],
            "kl": run["after"]["kl"],
        }
    }
    labeler = get_labeler(LABELER)
    reward_model = load_default_reward_model()
    prompts = eval_prompts_for(seed, points.eval_prompts)
    base, tokenizer = load_tiny_lm()

    def evaluate(policy):
        return sample_and_score(
            policy, base, tokenizer, prompts, reward_model, labeler.utility,
            max_new_tokens=points.max_new_tokens, seed=seed,
        )  # fmt: skip

    base_utility = evaluate(base).true_utility
    policy, _ = load_tiny_lm()
    train_dpo(
        policy,
        tokenizer,
        make_synthetic_pairs(labeler, points.dpo_pairs, seed=seed),
        DPOConfig(
            beta=0.1,
            learning_rate=3e-4,
            batch_size=points.dpo_batch_size,
            epochs=points.dpo_epochs,
        ),
        seed=seed,
        ref_policy=base,
        show_progress=False,
    )
    dpo = evaluate(policy)
    gains["dpo"] = {"gain": dpo.true_utility - base_utility, "kl": dpo.kl}
    bon = best_of_n(
        base,
        tokenizer,
        prompts,
        reward_model,
        n=points.best_of,
        max_new_tokens=points.max_new_tokens,
        seed=seed,
    )
    for m in BEST_OF:
        picked = [
            candidates[int(np.argmax(scores[:m]))]
            for candidates, scores in zip(bon.candidates, bon.candidate_scores)
        ]
        utility = float(np.mean(labeler.utilities(prompts, picked)))
        gains[f"best_of_{m}"] = {"gain": utility - base_utility, "kl": best_of_n_kl(m)}
    return gains


#: pipeline -> its stages, each with the fraction of the stage it uses.
PIPELINES: dict[str, list[tuple[str, float]]] = {
    "ppo": [("labels_reward_model", 1.0), ("reward_model", 1.0), ("ppo", 1.0), ("sampling", 1.0)],
    "dpo": [("labels_dpo", 1.0), ("dpo", 1.0), ("sampling", 1.0)],
    **{
        f"best_of_{m}": [
            ("labels_reward_model", 1.0),
            ("reward_model", 1.0),
            ("best_of_16", m / max(BEST_OF)),
        ]
        for m in BEST_OF
    },
}


def _total(stages: dict[str, dict[str, Any]], pipeline: str, key: str) -> float:
    return sum(share * stages[stage].get(key, 0.0) for stage, share in PIPELINES[pipeline])


def _round(value: Any, digits: int = 6) -> Any:
    if isinstance(value, float):
        return float(f"{value:.{digits}g}")
    if isinstance(value, list):
        return [_round(v, digits) for v in value]
    if isinstance(value, dict):
        return {k: _round(v, digits) for k, v in value.items()}
    return value


def run_cost_study(
    seeds: list[int],
    points: OperatingPoints | None = None,
    cpu_watts: float = compute_cost.CPU_WATTS,
    wage_per_hour: float = compute_cost.WAGE_USD_PER_HOUR,
) -> dict[str, Any]:
    """Measure every stage (on seed ``seeds[0]``) and every pipeline's utility (on each seed);
    returns the results.json content: deterministic parts at the top level, wall-clock ones
    under ``"wall_clock"``."""
    points = POINTS if points is None else points
    if not isinstance(points, OperatingPoints):
        raise TypeError(f"points must be an OperatingPoints, got {type(points).__name__}")
    cpu_watts = check_float("cpu_watts", cpu_watts, 0.0, low_open=True)
    wage_per_hour = check_float("wage_per_hour", wage_per_hour, 0.0)
    if not list(seeds):
        raise ValueError("seeds is empty: the study needs at least one seed")
    seeds = check_seeds(seeds)
    jobs = ["stages"] + [f"seed {seed}" for seed in seeds]
    stages: dict[str, dict[str, Any]] = {}
    gains_per_seed = []
    for job in progress(jobs, desc="cost: stages, then utility per seed"):
        if job == "stages":
            stages = measure_stages(points, seed=seeds[0])
        else:
            gains_per_seed.append(utility_gains(points, int(job.split()[1])))
    wall_stages = {}
    for name, stage in stages.items():
        seconds = stage.pop("seconds")
        wall_stages[name] = {
            "seconds": seconds,
            "energy_cpu_j": compute_cost.cpu_energy(seconds, cpu_watts),
        }
        stage["description"] = STAGES[name]
        stage["energy_h100_j_lower_bound"] = compute_cost.h100_energy_lower_bound(stage["flops"])
        if "person_seconds" in stage:
            stage["person_cost_usd"] = compute_cost.person_cost(
                stage["person_seconds"], wage_per_hour
            )
    pipelines: dict[str, dict[str, Any]] = {}
    wall_pipelines: dict[str, dict[str, Any]] = {}
    gain = {}
    kl = {}
    for pipeline in PIPELINES:
        values = [g[pipeline]["gain"] for g in gains_per_seed]
        gain[pipeline] = {
            "per_seed": values,
            "mean": float(np.mean(values)),
            "std": float(np.std(values)),
        }
        kl[pipeline] = {
            "per_seed": [g[pipeline]["kl"] for g in gains_per_seed],
            "mean": float(np.mean([g[pipeline]["kl"] for g in gains_per_seed])),
        }
        person_seconds = _total(stages, pipeline, "person_seconds")
        flops = _total(stages, pipeline, "flops")
        h100 = _total(stages, pipeline, "energy_h100_j_lower_bound")
        pipelines[pipeline] = {
            "stages": [stage for stage, _ in PIPELINES[pipeline]],
            "labels": _total(stages, pipeline, "labels"),
            "person_seconds": person_seconds,
            "person_cost_usd": compute_cost.person_cost(person_seconds, wage_per_hour),
            "flops": flops,
            "energy_h100_j_lower_bound": h100,
            "gain_per_person_hour": gain[pipeline]["mean"] / (person_seconds / 3600.0),
        }
        energy = _total(wall_stages, pipeline, "energy_cpu_j")
        wall_pipelines[pipeline] = {
            "seconds": _total(wall_stages, pipeline, "seconds"),
            "energy_cpu_j": energy,
            "gain_per_cpu_kj": gain[pipeline]["mean"] / (energy / 1000.0),
        }
    results = {
        "experiment": "cost",
        "seeds": seeds,
        "labeler": LABELER,
        "operating_points": {**asdict(points), "ppo_changes": dict(points.ppo_changes)},
        "assumptions": {
            "seconds_per_label": "rlhf_edu.rlhf.feedback.cost (reading 238 wpm, Brysbaert 2019; "
            "typing 52 wpm, Dhakal et al. 2018; 2 s per decision, an assumption)",
            "wage_usd_per_hour": wage_per_hour,
            "wage_source": compute_cost.WAGE_SOURCE
            if wage_per_hour == compute_cost.WAGE_USD_PER_HOUR
            else "given",
            "cpu_watts": cpu_watts,
            "cpu_watts_source": compute_cost.CPU_WATTS_SOURCE
            if cpu_watts == compute_cost.CPU_WATTS
            else "given",
            "h100_watts": compute_cost.H100_WATTS,
            "h100_peak_flops": compute_cost.H100_PEAK_FLOPS,
            "h100_source": compute_cost.H100_SOURCE,
            "flops_counted": "torch.utils.flop_counter.FlopCounterMode: matrix multiplications "
            "and attention, forward and backward; element-wise operations not counted",
            "scaling": "each stage measured on its first measured_units and scaled to "
            "operating_units",
            "ppo_utility": "stored runs (rlhf_edu/data/ppo_curves.json, adaptive KL, 60 updates)",
        },
        "stages": stages,
        "pipelines": pipelines,
        "true_utility_gain": gain,
        "kl": kl,
        "wall_clock": {
            "note": "CPU seconds of this process measured on this machine (not wall time); "
            "they vary from machine to machine and run to run",
            "stages": wall_stages,
            "pipelines": wall_pipelines,
        },
    }
    return _round(results)


def _si(value: float, unit: str) -> str:
    for factor, prefix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}"


def cost_table_markdown(results: dict[str, Any]) -> str:
    """The stage table and the pipeline table of ``run_cost_study``'s results, in Markdown."""
    for key in ("stages", "pipelines", "true_utility_gain", "wall_clock", "assumptions"):
        if key not in results:
            raise ValueError(f"results has no {key!r}: pass run_cost_study's results")
    missing = [stage for stage in STAGES if stage not in results["stages"]]
    if missing:
        raise ValueError(f"results['stages'] lacks the stages {missing}")
    wall = results["wall_clock"]
    a = results["assumptions"]
    lines = [
        f"Person cost at ${a['wage_usd_per_hour']}/h ({a['wage_source']}); CPU energy at "
        f"{a['cpu_watts']:.3g} W per busy core ({a['cpu_watts_source']}); H100 energy is a lower "
        "bound: the "
        f"FLOPs at {a['h100_peak_flops'] / 1e12:g} TFLOPS and {a['h100_watts']:g} W "
        f"({a['h100_source']}). CPU seconds: this process's CPU time on this machine (it varies).",
        "",
        "| stage | operating point | labels | person-hours | person cost | FLOPs | CPU seconds "
        "| CPU energy | H100 energy (lower bound) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in STAGES:
        stage = results["stages"][name]
        labels = stage.get("labels")
        person = stage.get("person_seconds")
        money = "" if person is None else f"${stage['person_cost_usd']:.3g}"
        clock = wall["stages"][name]
        computed = bool(stage["flops"])
        seconds = f"{clock['seconds']:.3g}" if computed else ""
        energy = _si(clock["energy_cpu_j"], "J") if computed else ""
        h100 = _si(stage["energy_h100_j_lower_bound"], "J") if computed else ""
        lines.append(
            f"| {stage['description']} | {stage['operating_point']} | "
            f"{labels if labels is not None else ''} | "
            f"{'' if person is None else f'{person / 3600:.3g}'} | "
            f"{money} | "
            f"{_si(stage['flops'], 'FLOP') if computed else ''} | {seconds} | {energy} | {h100} |"
        )
    lines += [
        "",
        f"True utility gained over the base model (held out, mean over seeds "
        f"{results['seeds']}), and per unit of cost:",
        "",
        "| pipeline | utility gain | KL | labels | person-hours | CPU energy | H100 energy "
        "(lower bound) | gain per person-hour | gain per CPU kJ |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, pipeline in results["pipelines"].items():
        gain = results["true_utility_gain"][name]
        w = wall["pipelines"][name]
        lines.append(
            f"| {name.replace('_', '-')} | {gain['mean']:+.3f} ± {gain['std']:.3f} | "
            f"{results['kl'][name]['mean']:.2f} | {pipeline['labels']:.0f} | "
            f"{pipeline['person_seconds'] / 3600:.3g} | {_si(w['energy_cpu_j'], 'J')} | "
            f"{_si(pipeline['energy_h100_j_lower_bound'], 'J')} | "
            f"{pipeline['gain_per_person_hour']:.3g} | {w['gain_per_cpu_kj']:.3g} |"
        )
    return "\n".join(lines) + "\n"


def plot_cost_study(results: dict[str, Any], out: Path) -> list[Path]:
    """``cost.png`` (true utility gained against person-hours and against CPU joules, per
    pipeline) and ``cost_table.md`` (``cost_table_markdown``)."""
    import matplotlib.pyplot as plt  # noqa: I001
    from matplotlib.ticker import NullFormatter

    from rlhf_edu.utils.checkpoint import atomic_write_bytes
    from rlhf_edu.viz.figures import save_figure  # first: it picks a backend without a screen

    out = Path(out)
    table = atomic_write_bytes(cost_table_markdown(results).encode(), out / "cost_table.md")
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    panels = (
        (axes[0], lambda name: results["pipelines"][name]["person_seconds"] / 3600.0,
         "person-hours of labelling"),
        (axes[1], lambda name: results["wall_clock"]["pipelines"][name]["energy_cpu_j"],
         f"CPU energy, J ({results['assumptions']['cpu_watts']:.3g} W per core x CPU time)"),
    )  # fmt: skip
    bon = [name for name in results["pipelines"] if name.startswith("best_of_")]
    for ax, x_of, label in panels:
        for name, marker in (("ppo", "o"), ("dpo", "s")):
            gain = results["true_utility_gain"][name]
            ax.errorbar(x_of(name), gain["mean"], yerr=gain["std"], marker=marker, capsize=3,
                        linestyle="none", label=name.upper())  # fmt: skip
        ax.errorbar(
            [x_of(name) for name in bon],
            [results["true_utility_gain"][name]["mean"] for name in bon],
            yerr=[results["true_utility_gain"][name]["std"] for name in bon],
            marker="^", capsize=3, label="best-of-m, m = " + ", ".join(n[8:] for n in bon),
        )  # fmt: skip
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels of a log axis overlap
        ax.set_xlabel(label)
        ax.set_ylabel("true utility gained over the base model")
        ax.legend(fontsize=8)
    axes[0].set_title("per unit of people's time", fontsize=10)
    axes[1].set_title("per unit of energy", fontsize=10)
    fig.suptitle(f"What each pipeline buys ({len(results['seeds'])} seed(s); bars: std)")
    fig.tight_layout()
    written = [table, save_figure(fig, out / "cost.png")]
    plt.close(fig)
    return written


def check_seeds(seeds: Sequence[int]) -> list[int]:
    """``seeds`` as a list, each a stored PPO run's seed."""
    from rlhf_edu.data import load_ppo_curves

    stored = load_ppo_curves()["seeds"]
    bad = [s for s in seeds if s not in stored]
    if bad:
        raise ValueError(f"seeds must be among the stored PPO runs' {stored}, got {bad}")
    return list(seeds)
