"""``rlhf-edu demo``: a short tour of the three tracks on the CPU.

Each track contributes a ``run(out_dir, seed) -> dict`` function that trains something small,
writes its plots into ``out_dir`` and returns its headline numbers. This module runs them in
order, writes ``summary.json`` ({"tabular": ..., "neural": ..., "rlhf": ...}) and prints where
everything is. The whole demo is meant to take a few minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from rlhf_edu.utils.checkpoint import atomic_write_bytes
from rlhf_edu.utils.seeding import check_seed

#: track -> the modules whose ``run(out_dir, seed)`` results are merged into that track's entry.
TRACKS: dict[str, tuple[str, ...]] = {
    "tabular": ("rlhf_edu.app.demo_tabular",),
    "neural": ("rlhf_edu.app.demo_neural",),
    "rlhf": ("rlhf_edu.app.demo_reward_model", "rlhf_edu.app.demo_ppo"),
}


def default_out_dir() -> Path:
    return Path("runs") / f"demo-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def prepare_out_dir(out_dir: Path) -> Path:
    """Create the run folder, or raise a clear error if it can't be written."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise NotADirectoryError(f"--out {out_dir} exists and is not a folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise PermissionError(
            f"cannot create output folder {out_dir}: {err.strerror or err}"
        ) from err
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise PermissionError(f"output folder {out_dir} is not writable")
    return out_dir


def _track_runner(module_name: str) -> Callable[[Path, int], dict[str, Any]] | None:
    """The ``run`` function of a track's demo module, or None if this version doesn't ship it."""
    if importlib.util.find_spec(module_name) is None:
        return None
    return importlib.import_module(module_name).run


def run_tracks(out_dir: Path, seed: int, tracks: list[str]) -> dict[str, Any]:
    """Run the demo of each named track; return the summary (also written to summary.json)."""
    seed = check_seed(seed)
    unknown = [t for t in tracks if t not in TRACKS]
    if unknown:
        raise ValueError(f"unknown track(s) {unknown}; known tracks: {', '.join(TRACKS)}")
    out_dir = prepare_out_dir(out_dir)
    summary: dict[str, Any] = {}
    for track in tracks:
        entry: dict[str, Any] = {}
        start = time.perf_counter()
        for module_name in TRACKS[track]:
            runner = _track_runner(module_name)
            if runner is None:
                print(f"[{track}] {module_name} is not part of this version yet; skipped")
                continue
            print(f"[{track}] running {module_name} ...", flush=True)
            entry.update(runner(out_dir, seed))
        if entry:
            entry.setdefault("demo_seconds", round(time.perf_counter() - start, 1))
            summary[track] = entry
    summary_path = out_dir / "summary.json"
    atomic_write_bytes(
        (json.dumps(summary, indent=2, sort_keys=True) + "\n").encode(), summary_path
    )
    return summary


def run_demo(args: argparse.Namespace) -> int:
    """Entry point of ``rlhf-edu demo``."""
    tracks = [t.strip() for t in args.tracks.split(",") if t.strip()]
    out_dir = args.out if args.out is not None else default_out_dir()
    start = time.perf_counter()
    summary = run_tracks(out_dir, args.seed, tracks)
    print(json.dumps(summary, indent=2, sort_keys=True))
    print(f"\nDemo finished in {time.perf_counter() - start:.0f} s.")
    print(f"Summary: {out_dir / 'summary.json'}")
    for png in sorted(Path(out_dir).glob("*.png")):
        print(f"Plot:    {png}")
    return 0


if __name__ == "__main__":
    sys.exit(run_demo(argparse.Namespace(out=None, seed=0, tracks="tabular,neural,rlhf")))
