"""Stored results and pretrained weights that ship with the package (no training needed to read them).

- ``ppo_curves.json``: the RLHF PPO experiment of notebooks 10 and 11 (the adaptive KL controller
  and no KL penalty, 5 seeds, 60 updates), written by ``python -m rlhf_edu.app.ppo_experiment``.
  Read it with ``load_ppo_curves()``; it is stored column by column and without wall-clock fields,
  so that regenerating it with the same code and seeds gives the same file.
- ``personalization_study.json``: notebook 13's study (``rlhf-edu experiment personalization
  --seeds 3``): per-group accuracy of one reward model for everyone, one conditioned on the user
  and one per user against each group's ceiling, and each group's true utility under best-of-8
  steering of the tiny GPT-2, per seed and averaged. Read it with
  ``load_personalization_study()``.
- ``critic_free.json``: PPO, GRPO and RLOO from the same tiny GPT-2, reward model, prompts and
  number of episodes (notebook 11), 3 seeds: ``rlhf-edu experiment critic-free --seeds 3``'s
  results.json, one line per key; read it with ``load_critic_free()``.
- ``sft_vs_base.json``: RLHF PPO from a supervised fine-tuned model against PPO from the base
  model (3 seeds), written by ``python -m rlhf_edu.app.experiment_sft``; read it with
  ``load_sft_vs_base()``.
- ``ppo_kl_sweep.json``: the same experiment with fixed KL coefficients beta in {0.01, 0.03,
  0.1, 0.3} (5 seeds each; notebook 10's sweep), ``load_ppo_kl_sweep()``.
- ``feedback_study.json``: ``rlhf-edu experiment feedback --seeds 3`` (notebook 12: every feedback
  form at equal annotator cost, merging disagreeing annotators, active selection, feedback on a
  classifier), stored with ``write_feedback_study`` (one line per key, floats to 6 significant
  digits); read it with ``load_feedback_study()``.
- ``overoptimization.json``: reward over-optimisation after Gao et al. 2022 (notebook 15):
  gold and proxy scores against sqrt(KL) for best-of-n and PPO, proxies trained on 30 to 3000
  labels, 3 seeds, with the fitted forms; ``rlhf-edu experiment overoptimization --seeds 3``
  writes the same content. Read it with ``load_overoptimization()``.
- ``pretrained/``: CartPole-v1 agents for notebooks 05 and 07 (``pretrained/README.md`` says how
  they were made); ``rlhf_edu.neural.load_agent(pretrained_path("ppo-cartpole.pt"))``.

Only the standard library is imported here.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parent
PPO_CURVES_PATH = DATA_DIR / "ppo_curves.json"
PPO_KL_SWEEP_PATH = DATA_DIR / "ppo_kl_sweep.json"
OVEROPTIMIZATION_PATH = DATA_DIR / "overoptimization.json"
FEEDBACK_STUDY_PATH = DATA_DIR / "feedback_study.json"
CRITIC_FREE_PATH = DATA_DIR / "critic_free.json"
PERSONALIZATION_STUDY_PATH = DATA_DIR / "personalization_study.json"
PRETRAINED_DIR = DATA_DIR / "pretrained"
SFT_VS_BASE_PATH = DATA_DIR / "sft_vs_base.json"

#: Per-update fields that measure the machine, not the run; never stored.
WALL_CLOCK_KEYS = frozenset({"seconds"})

__all__ = [
    "CRITIC_FREE_PATH",
    "DATA_DIR",
    "OVEROPTIMIZATION_PATH",
    "FEEDBACK_STUDY_PATH",
    "PERSONALIZATION_STUDY_PATH",
    "PPO_CURVES_PATH",
    "PPO_KL_SWEEP_PATH",
    "PRETRAINED_DIR",
    "SFT_VS_BASE_PATH",
    "load_critic_free",
    "load_feedback_study",
    "load_personalization_study",
    "load_overoptimization",
    "load_ppo_curves",
    "load_ppo_kl_sweep",
    "load_sft_vs_base",
    "pretrained_path",
    "write_critic_free",
    "write_feedback_study",
    "write_personalization_study",
    "write_overoptimization",
    "write_ppo_curves",
    "write_sft_vs_base",
]


def pretrained_path(name: str) -> Path:
    """The path of a packaged pretrained agent, e.g. ``pretrained_path("dqn-cartpole.pt")``."""
    path = PRETRAINED_DIR / name
    if not path.is_file():
        known = sorted(p.name for p in PRETRAINED_DIR.glob("*.pt"))
        raise FileNotFoundError(f"no pretrained file {name!r}; packaged: {', '.join(known)}")
    return path


def _significant(value: Any, digits: int = 6) -> Any:
    """Floats rounded to ``digits`` significant digits (curves for plots); other values as they are."""
    if isinstance(value, float) and math.isfinite(value) and value != 0.0:
        return float(f"{value:.{digits}g}")
    return value


def _rows_to_columns(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    keys = [k for k in rows[0] if k not in WALL_CLOCK_KEYS] if rows else []
    return {k: [_significant(row.get(k)) for row in rows] for k in keys}


def _columns_to_rows(columns: dict[str, list[Any]]) -> list[dict[str, Any]]:
    n = len(next(iter(columns.values()), []))
    return [{k: values[i] for k, values in columns.items()} for i in range(n)]


def write_ppo_curves(results: dict[str, Any], path: str | Path = PPO_CURVES_PATH) -> Path:
    """Write ``run_experiment``'s results compactly: one line per curve, no wall-clock fields.

    Each run's ``history`` (a list of per-update rows) is stored as columns, its floats rounded to
    6 significant digits; ``before`` and ``after`` (the held-out evaluations) are kept exactly.
    """
    path = Path(path)
    lines = ["{"]
    lines.append(f'"n_updates": {json.dumps(results["n_updates"])},')
    lines.append(f'"seeds": {json.dumps(results["seeds"])},')
    if "configs" in results:
        lines.append(f'"configs": {json.dumps(results["configs"])},')
    lines.append('"settings": {')
    settings = list(results["settings"].items())
    for i, (label, runs) in enumerate(settings):
        lines.append(f"{json.dumps(label)}: [")
        for j, run in enumerate(runs):
            columns = _rows_to_columns(run["history"])
            lines.append("{")
            lines.append(f'"before": {json.dumps(run["before"])},')
            lines.append(f'"after": {json.dumps(run["after"])},')
            lines.append('"history": {')
            lines.extend(
                f"{json.dumps(k)}: {json.dumps(v)}{',' if n < len(columns) - 1 else ''}"
                for n, (k, v) in enumerate(columns.items())
            )
            lines.append("}")
            lines.append("}" + ("," if j < len(runs) - 1 else ""))
        lines.append("]" + ("," if i < len(settings) - 1 else ""))
    lines.append("}")
    lines.append("}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def load_ppo_curves(path: str | Path | None = None) -> dict[str, Any]:
    """The stored PPO experiment: ``{"n_updates", "seeds", "configs": {label: config changes},
    "settings": {label: [run per seed]}}``, each run ``{"history": [row per update], "before":
    {...}, "after": {...}}``. The packaged file holds ``"adaptive KL"`` and ``"no KL
    penalty"``; the experiment's other labels are ``"adaptive KL, target 2"`` and ``"fixed beta
    <beta>"``."""
    results = _load_stored(
        path,
        PPO_CURVES_PATH,
        "no PPO results at {path}; run 'python -m rlhf_edu.app.ppo_experiment' to create them",
    )
    for runs in results["settings"].values():
        for run in runs:
            if isinstance(run["history"], dict):
                run["history"] = _columns_to_rows(run["history"])
    return results


def load_ppo_kl_sweep() -> dict[str, Any]:
    """The stored fixed-KL-coefficient sweep of notebook 10, in ``load_ppo_curves``' layout:
    labels ``"fixed beta <beta>"`` for beta in 0.01, 0.03, 0.1, 0.3, the same 5 seeds, 60
    updates and models as ``ppo_curves.json`` (written by ``python -m
    rlhf_edu.app.ppo_experiment --settings sweep``)."""
    return load_ppo_curves(PPO_KL_SWEEP_PATH)


def _load_stored(path: str | Path | None, default: Path, missing: str) -> dict[str, Any]:
    """The JSON object at ``path`` (default: the packaged ``default``); if the file is missing,
    ``missing`` (with ``{path}`` filled in) says how to make it."""
    path = Path(path) if path is not None else default
    if not path.is_file():
        raise FileNotFoundError(missing.format(path=path))
    return json.loads(path.read_text())


def _write_members(path: str | Path, members: list[str]) -> Path:
    """Write a JSON object given as its ``"key": value`` members, one to a line: a compact file
    that a diff reads line by line."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{\n" + ",\n".join(members) + "\n}\n")
    return path


def _rounded(value: Any) -> Any:
    """Every float in nested lists and dicts rounded to 6 significant digits."""
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return _significant(value)


def write_feedback_study(results: dict[str, Any], path: str | Path = FEEDBACK_STUDY_PATH) -> Path:
    """Write the feedback study's results (``run_feedback_study``) compactly: one line per
    top-level key, floats rounded to 6 significant digits."""
    path = Path(path)
    items = [f"{json.dumps(k)}: {json.dumps(_rounded(v))}" for k, v in results.items()]
    return _write_members(path, items)


def load_feedback_study(path: str | Path | None = None) -> dict[str, Any]:
    """The stored feedback study of notebook 12 (3 seeds): the keys of
    ``rlhf-edu experiment feedback``'s results.json (``accuracy_at_equal_cost``,
    ``bayes_optimal_accuracy``, ``forms``, ``aggregation``, ``active_vs_random``,
    ``classifier``, ...)."""
    return _load_stored(
        path,
        FEEDBACK_STUDY_PATH,
        "no feedback study at {path}; run 'python -m rlhf_edu.app.experiment_feedback' "
        "to create it",
    )


def write_personalization_study(
    results: dict[str, Any], path: str | Path = PERSONALIZATION_STUDY_PATH
) -> Path:
    """Write ``run_personalization_study``'s results compactly: one line per top-level key (one
    per seed under ``per_seed``), floats rounded to 6 significant digits."""
    members = [
        f"{json.dumps(key)}: {json.dumps(_rounded(value))}"
        for key, value in results.items()
        if key != "per_seed"
    ]
    runs = [json.dumps(_rounded(run)) for run in results.get("per_seed", [])]
    members.append('"per_seed": [\n' + ",\n".join(runs) + "\n]")
    return _write_members(path, members)


def load_personalization_study(path: str | Path | None = None) -> dict[str, Any]:
    """The stored personalisation study: ``{"seeds", "groups": {group: share},
    "single_rm" | "conditioned_rm" | "per_user_rm" | "ceiling": {group: accuracy},
    "steering": {"base" | "single_rm" | "conditioned_rm" | "per_user_rm" | "best": {group:
    utility}}, "per_seed": [{"accuracy": {...}, "steering": {...}} per seed]}`` (means over the
    seeds at the top level)."""
    return _load_stored(
        path,
        PERSONALIZATION_STUDY_PATH,
        "no personalisation results at {path}; run 'rlhf-edu experiment personalization "
        "--seeds 3' and write them with write_personalization_study",
    )


def write_critic_free(results: dict[str, Any], path: str | Path = CRITIC_FREE_PATH) -> Path:
    """Write the critic-free study's results (``run_critic_free_study``) compactly: one line per
    top-level key and one per method's curves, floats rounded to 6 significant digits."""
    path = Path(path)
    items = [
        f"{json.dumps(k)}: {json.dumps(_rounded(v))}" for k, v in results.items() if k != "curves"
    ]
    curves = [f"{json.dumps(m)}: {json.dumps(_rounded(c))}" for m, c in results["curves"].items()]
    items.append('"curves": {\n' + ",\n".join(curves) + "\n}")
    return _write_members(path, items)


def load_critic_free(path: str | Path | None = None) -> dict[str, Any]:
    """The stored critic-free study of notebook 11 (3 seeds): ``rlhf-edu experiment
    critic-free``'s results.json -- ``methods`` (PPO, GRPO, RLOO), ``seeds``, ``episodes``,
    ``final_true_utility`` / ``final_kl`` / ``final_reward`` (per method: ``per_seed``, ``mean``,
    ``std``; held-out prompts after training) and ``curves`` (per method, per key, one list per
    seed of the per-update training values)."""
    return _load_stored(
        path,
        CRITIC_FREE_PATH,
        "no critic-free results at {path}; run 'rlhf-edu experiment critic-free --seeds 3' "
        "and write them with write_critic_free",
    )


def write_sft_vs_base(results: dict[str, Any], path: str | Path = SFT_VS_BASE_PATH) -> Path:
    """Write the SFT study (``experiment_sft.run_sft_study``, floats already at 6 significant
    digits) compactly: one line per top-level key."""
    path = Path(path)
    items = [f"{json.dumps(key)}: {json.dumps(value)}" for key, value in results.items()]
    return _write_members(path, items)


def load_sft_vs_base(path: str | Path | None = None) -> dict[str, Any]:
    """The stored SFT study (3 seeds): ``rlhf-edu experiment sft``'s results.json, with
    ``seeds``, ``config``, ``policies`` (base, sft, ppo_from_base, ppo_from_sft), one entry per
    measure (``true_utility``, ``reward``, ``kl_to_own_reference``, ``kl_to_base``,
    ``distinct_1``, ``distinct_2``, ``mean_words``: ``{policy: {"per_seed", "mean", "std"}}``),
    ``curves`` (per PPO run: per-seed lists per update) and ``samples``."""
    return _load_stored(
        path,
        SFT_VS_BASE_PATH,
        "no SFT study at {path}; run 'python -m rlhf_edu.app.experiment_sft' to create it",
    )


def write_overoptimization(
    results: dict[str, Any], path: str | Path = OVEROPTIMIZATION_PATH
) -> Path:
    """Write the over-optimisation study's results compactly: one line per top-level key (and
    per label count of ``by_labels``, per seed of ``per_seed``)."""
    path = Path(path)
    lines = []
    for key, value in results.items():
        if key in ("by_labels", "per_seed"):
            items = value.items() if isinstance(value, dict) else enumerate(value)
            inner = [
                (f"{json.dumps(str(k))}: " if isinstance(value, dict) else "") + json.dumps(v)
                for k, v in items
            ]
            open_, close = ("{", "}") if isinstance(value, dict) else ("[", "]")
            lines.append(f"{json.dumps(key)}: {open_}\n" + ",\n".join(inner) + f"\n{close}")
        else:
            lines.append(f"{json.dumps(key)}: {json.dumps(value)}")
    return _write_members(path, lines)


def load_overoptimization(path: str | Path | None = None) -> dict[str, Any]:
    """The stored over-optimisation study (3 seeds): ``"bon"`` and ``"rl"`` (``sqrt_kl``,
    ``gold``, ``proxy``, ``fit``: ``alpha``, ``beta``) for the headline proxy (its
    ``"headline_labels"``: 30), ``"proxy_labels"``, ``"by_labels"`` (the same per label count,
    with the proxies' held-out accuracy and the peaks) and ``"per_seed"`` (each seed's raw curves)."""
    return _load_stored(
        path,
        OVEROPTIMIZATION_PATH,
        "no over-optimisation results at {path}; run 'rlhf-edu experiment overoptimization "
        "--seeds 3 --out DIR' and copy DIR/results.json there",
    )
