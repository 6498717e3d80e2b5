"""The ``rlhf-edu`` command line: demo, assign, grade, train, experiment, label, site.

Each subcommand's arguments are declared here, in one readable place; the work is done by a
``run_*(args) -> int`` function in the module that owns the concept (imported only when the
subcommand runs, so ``rlhf-edu --help`` stays fast).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

from rlhf_edu import __version__


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"seed must be a non-negative int, got {text!r}") from None
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"seed must be in [0, 2**32 - 1], got {value}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive int, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive int, got {value}")
    return value


def _handler(target: str):
    """``"package.module:function"`` -> a callable that imports it when the command runs."""

    def run(args: argparse.Namespace) -> int:
        module_name, function_name = target.split(":")
        return getattr(importlib.import_module(module_name), function_name)(args)

    run.__name__ = target
    return run


def config_fields_text(target: str) -> str:
    """Each field of a config dataclass (``"module:Class"``) with its default and help text."""
    module_name, class_name = target.split(":")
    config = getattr(importlib.import_module(module_name), class_name)
    lines = [f"{class_name} fields (defaults; help text from the dataclass):"]
    for field in dataclasses.fields(config):
        default = (
            field.default
            if field.default is not dataclasses.MISSING
            else field.default_factory()  # type: ignore[misc]
            if field.default_factory is not dataclasses.MISSING
            else "(required)"
        )
        lines.append(f"  {field.name} = {default!r}")
        help_text = field.metadata.get("help", "")
        lines.extend(f"      {line}" for line in textwrap.wrap(help_text, 72))
    return "\n".join(lines)


class _ConfigHelp(argparse.Action):
    """``-h/--help`` of a train command: the usual help, then every field of its config.

    The config classes are imported only when help is asked for, so that building the parser
    (every ``rlhf-edu`` call) loads no torch. ``configs`` maps a choice of the ``algo`` argument
    to its config (``None``: the one config of the command).
    """

    def __init__(self, option_strings, dest, configs: dict[str | None, str], **kwargs):
        super().__init__(
            option_strings, dest, nargs=0, help="show this help and every config field"
        )
        self.configs = configs

    def __call__(self, parser, namespace, values, option_string=None):
        algo = getattr(namespace, "algo", None)
        chosen = [self.configs[algo]] if algo in self.configs else list(self.configs.values())
        parser.epilog = "\n\n".join(config_fields_text(target) for target in chosen)
        parser.print_help()
        parser.exit()


def _tensorboard_option(parser: argparse.ArgumentParser, when: str) -> None:
    """``--tensorboard DIR``: the run's metrics as TensorBoard scalars (the optional extra)."""
    parser.add_argument(
        "--tensorboard",
        type=Path,
        default=None,
        metavar="DIR",
        help=f"also write the metrics as TensorBoard scalars to DIR ({when}; "
        "needs pip install 'rlhf_edu[tensorboard]'); view with tensorboard --logdir DIR",
    )


def _train_parser(targets, name: str, configs: dict[str | None, str], **kwargs):
    """A ``train`` subcommand whose ``--help`` lists its config's documented fields."""
    parser = targets.add_parser(
        name, add_help=False, formatter_class=argparse.RawDescriptionHelpFormatter, **kwargs
    )
    parser.add_argument("-h", "--help", action=_ConfigHelp, configs=configs, default=None)
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="rlhf-edu",
        description="rlhf-edu: a course and library from a Q-table to RLHF on GPT-2.",
        epilog="Run 'rlhf-edu COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"rlhf-edu {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    # Not required here: main() reports an unknown option before a missing command, so that
    # ``rlhf-edu --bogus`` says what is wrong with what was typed.
    commands.required = False
    parser.set_defaults(func=None, usage_error="the following arguments are required: COMMAND")

    # demo ---------------------------------------------------------------------------------------
    demo = commands.add_parser(
        "demo",
        help="a short tour of all three tracks on the CPU (plots + summary.json)",
        description="Run a short tour of the tabular, neural and RLHF tracks on the CPU, "
        "write plots (PNG) and summary.json to a run folder and print where they are.",
    )
    demo.add_argument(
        "--out", type=Path, default=None, help="run folder (default: ./runs/demo-<timestamp>/)"
    )
    demo.add_argument("--seed", type=_seed, default=0, help="random seed (default: 0)")
    demo.add_argument(
        "--tracks",
        default="tabular,neural,rlhf",
        help="comma-separated tracks to run (default: tabular,neural,rlhf)",
    )
    demo.set_defaults(func=_handler("rlhf_edu.app.demo:run_demo"))

    # assign -------------------------------------------------------------------------------------
    assign = commands.add_parser(
        "assign",
        help="regenerate the student notebooks/ from solutions/",
        description="Strip the solutions between '### BEGIN SOLUTION' and '### END SOLUTION' "
        "from solutions/*.ipynb and write the student versions to notebooks/.",
    )
    assign.add_argument("--solutions", type=Path, default=Path("solutions"), help="source folder")
    assign.add_argument("--out", type=Path, default=Path("notebooks"), help="student folder")
    assign.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if notebooks/ is out of sync with solutions/",
    )
    assign.set_defaults(func=_handler("rlhf_edu.grading.commands:run_assign"))

    # grade --------------------------------------------------------------------------------------
    grade = commands.add_parser(
        "grade",
        help="grade student notebooks in a sandbox; write results.json per student and grades.csv",
        description="Run each submitted notebook in its own sandboxed process, run the graded "
        "tests against the functions it defines, and write Gradescope-compatible results.",
    )
    grade.add_argument("submissions", nargs="+", type=Path, help="student .ipynb files")
    grade.add_argument("--out", type=Path, required=True, help="folder for the results")
    grade.add_argument("--workers", type=_positive_int, default=1, help="parallel graders")
    grade.add_argument("--notebook", default=None, help="which course notebook (default: guess)")
    grade.add_argument(
        "--cell-timeout",
        type=float,
        default=180.0,
        help="seconds per cell and per graded test (default 180: the course's training cells "
        "take up to about 70 s of CPU on an idle machine)",
    )
    grade.add_argument(
        "--timeout", type=float, default=600.0, help="seconds per notebook (default 600)"
    )
    grade.add_argument(
        "--memory-mb", type=_positive_int, default=2048, help="memory per submission (default 2048)"
    )
    grade.add_argument("--seed", type=_seed, default=None, help="seed of the randomized tests")
    grade.add_argument(
        "--isolation",
        choices=("auto", "sealed", "weak"),
        default=None,
        help="sealed: each submission in a bubblewrap sandbox (own PID namespace, no network, "
        "own uid); weak: rlimits only; auto (default, or $RLHF_EDU_GRADE_ISOLATION): sealed "
        "where bwrap can start",
    )
    grade.set_defaults(func=_handler("rlhf_edu.grading.commands:run_grade"))

    # train --------------------------------------------------------------------------------------
    train = commands.add_parser(
        "train",
        help="train a model: the tiny LM, a reward model, RLHF PPO, DPO, or a neural agent",
        description="Train one of the course's models and save it.",
    )
    targets = train.add_subparsers(dest="target", metavar="TARGET", parser_class=_Parser)
    targets.required = False
    train.set_defaults(
        usage_error="the following arguments are required: TARGET", error=train.error
    )

    lm = targets.add_parser(
        "lm", help="build the corpus, tokenizer and tiny GPT-2 into the cache (once)"
    )
    lm.add_argument(
        "--cache-dir", type=Path, default=None, help="default: $RLHF_EDU_CACHE or ~/.cache/rlhf_edu"
    )
    lm.add_argument("--seed", type=_seed, default=0)
    lm.add_argument("--force", action="store_true", help="rebuild even if cached")
    lm.set_defaults(func=_handler("rlhf_edu.app.rlhf_commands:run_train_lm"))

    rm = _train_parser(
        targets,
        "reward-model",
        {None: "rlhf_edu.rlhf.reward_model:RewardModelConfig"},
        help="train a Bradley-Terry reward model on pairs",
    )
    rm.add_argument(
        "--pairs", type=Path, default=None, help="JSONL preference file (default: synthetic)"
    )
    rm.add_argument("--labeler", default="mix", help="synthetic labeler when --pairs is absent")
    rm.add_argument("--out", type=Path, default=None, help="output folder")
    rm.add_argument("--seed", type=_seed, default=0)
    _tensorboard_option(rm, "when training ends")
    rm.set_defaults(func=_handler("rlhf_edu.app.rlhf_commands:run_train_reward_model"))

    rlhf = _train_parser(
        targets,
        "rlhf",
        {None: "rlhf_edu.rlhf.ppo:RLHFPPOConfig"},
        help="fine-tune the LM with PPO against the reward model",
    )
    rlhf.add_argument(
        "--model", default=None, help="policy: a local path or name (default: tiny GPT-2)"
    )
    rlhf.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    rlhf.add_argument("--updates", type=_positive_int, default=None, help="PPO updates")
    rlhf.add_argument("--kl-coef", type=float, default=None, help="initial KL coefficient")
    rlhf.add_argument("--out", type=Path, default=None, help="output folder (checkpoints, plots)")
    rlhf.add_argument(
        "--resume", action="store_true", help="resume from the last checkpoint in --out"
    )
    rlhf.add_argument("--seed", type=_seed, default=0)
    _tensorboard_option(rlhf, "live, after each update")
    rlhf.set_defaults(func=_handler("rlhf_edu.app.finetune:run_train_rlhf"))

    dpo = _train_parser(
        targets,
        "dpo",
        {None: "rlhf_edu.rlhf.dpo:DPOConfig"},
        help="fine-tune the LM with DPO on preference pairs",
    )
    dpo.add_argument(
        "--pairs", type=Path, default=None, help="JSONL preference file (default: synthetic)"
    )
    dpo.add_argument("--beta", type=float, default=0.1)
    dpo.add_argument("--out", type=Path, default=None)
    dpo.add_argument("--seed", type=_seed, default=0)
    _tensorboard_option(dpo, "when training ends")
    dpo.set_defaults(func=_handler("rlhf_edu.app.finetune:run_train_dpo"))

    agent = _train_parser(
        targets,
        "agent",
        {
            "ppo": "rlhf_edu.neural.ppo:PPOConfig",
            "dqn": "rlhf_edu.neural.dqn:DQNConfig",
            "a2c": "rlhf_edu.neural.actor_critic:ActorCriticConfig",
            "reinforce": "rlhf_edu.neural.reinforce:ReinforceConfig",
        },
        help="train a neural agent (ppo, dqn, a2c, reinforce)",
    )
    agent.add_argument("algo", choices=["ppo", "dqn", "a2c", "reinforce"])
    agent.add_argument("--env", default="CartPole-v1", help="gymnasium env id")
    agent.add_argument(
        "--steps", type=_positive_int, default=None, help="env steps (default: the config's)"
    )
    agent.add_argument("--out", type=Path, default=None, help="where to save the agent and plots")
    agent.add_argument("--seed", type=_seed, default=0)
    _tensorboard_option(agent, "when training ends")
    agent.set_defaults(func=_handler("rlhf_edu.app.train_agent:run_train_agent"))

    # experiment ---------------------------------------------------------------------------------
    from rlhf_edu.app.experiments import EXPERIMENTS

    experiment = commands.add_parser(
        "experiment",
        help="run a multi-seed study: results.json and plots in a folder",
        description="Run one of the course's multi-seed studies; it writes OUT/results.json and "
        "its plots. Studies: "
        + "; ".join(f"{name}: {text}" for name, (_, text) in EXPERIMENTS.items()),
    )
    experiment.add_argument("name", choices=sorted(EXPERIMENTS), help="which study")
    experiment.add_argument(
        "--seeds", type=_positive_int, default=3, help="number of seeds, 0 .. N-1 (default 3)"
    )
    experiment.add_argument("--out", type=Path, required=True, help="folder for the results")
    experiment.set_defaults(func=_handler("rlhf_edu.app.experiments:run_experiment"))

    # label --------------------------------------------------------------------------------------
    label = commands.add_parser(
        "label",
        help="label preference pairs yourself in the terminal (resumable)",
        description="Show pairs of responses and record which you prefer, appending to a JSONL "
        "file; run again to continue where you stopped.",
    )
    label.add_argument("out", type=Path, help="JSONL file to append your labels to")
    label.add_argument("--n", type=_positive_int, default=20, help="pairs to label this session")
    label.add_argument("--seed", type=_seed, default=0)
    label.set_defaults(func=_handler("rlhf_edu.app.rlhf_commands:run_label"))

    # site ---------------------------------------------------------------------------------------
    site = commands.add_parser(
        "site",
        help="build the course website (offline HTML: lessons, notebooks, API, instructor guide)",
        description="Build the course website with Sphinx and MyST-NB.",
    )
    site_commands = site.add_subparsers(dest="site_command", metavar="ACTION", parser_class=_Parser)
    site_commands.required = False
    site.set_defaults(usage_error="the following arguments are required: ACTION", error=site.error)
    site_build = site_commands.add_parser(
        "build",
        help="build the site into a folder (open DIR/index.html)",
        description="Build the site into DIR from the stored notebook outputs (nothing is "
        "executed), with Sphinx warnings as errors. Works offline; needs the site extra "
        "(pip install -e '.[site]', included in dev).",
    )
    site_build.add_argument("--out", type=Path, required=True, help="site folder (DIR)")
    site_build.add_argument(
        "--root", type=Path, default=Path("."), help="the course repository (default: .)"
    )
    site_build.set_defaults(func=_handler("rlhf_edu.app.site:run_site_build"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.func is None:
        getattr(args, "error", parser.error)(args.usage_error)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("rlhf-edu: interrupted", file=sys.stderr)
        return 130
    except (ValueError, TypeError, ImportError, OSError) as err:  # FileNotFound, Permission: OS
        print(f"rlhf-edu {args.command}: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
