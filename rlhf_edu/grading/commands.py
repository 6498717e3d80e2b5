"""``rlhf-edu assign`` and ``rlhf-edu grade`` (arguments are declared in ``rlhf_edu.cli``)."""

from __future__ import annotations

import argparse
import os
import sys

ISOLATION_ENV = "RLHF_EDU_GRADE_ISOLATION"


def run_assign(args: argparse.Namespace) -> int:
    """Regenerate the student notebooks; with ``--check`` exit 1 when they are out of sync."""
    from rlhf_edu.grading.assign import assign

    report = assign(args.solutions, args.out, check=args.check)
    if args.check:
        if report.in_sync:
            print(
                f"{args.out}/ is in sync with {args.solutions}/ ({len(report.unchanged)} notebooks)"
            )
            return 0
        for line in report.out_of_sync:
            print(f"out of sync: {line}", file=sys.stderr)
        print("run 'rlhf-edu assign' to regenerate the student notebooks", file=sys.stderr)
        return 1
    for path in report.written:
        print(f"wrote {path}")
    for path in report.removed:
        print(f"removed {path} (no solution notebook)")
    print(
        f"{len(report.written)} written, {len(report.unchanged)} unchanged, "
        f"{len(report.removed)} removed"
    )
    return 0


def run_grade(args: argparse.Namespace) -> int:
    """Grade submissions in sandboxes; write results.json per student and grades.csv."""
    from rlhf_edu.grading.autograder import GradeOptions, grade_class, print_summary

    options = GradeOptions(
        notebook=args.notebook,
        cell_timeout=args.cell_timeout,
        timeout=args.timeout,
        memory_mb=args.memory_mb,
        seed=args.seed,
        workers=args.workers,
        # "auto" (sealed where possible), "sealed" (fail if not) or "weak"
        isolation=getattr(args, "isolation", None) or os.environ.get(ISOLATION_ENV, "auto"),
    )
    results = grade_class(args.submissions, args.out, options)
    print_summary(results, args.out)
    unreadable = [r for r in results if not r.readable]
    if unreadable:
        print(
            f"rlhf-edu grade: {len(unreadable)} submission(s) could not be read "
            "(see grades.csv); exit status 1",
            file=sys.stderr,
        )
        return 1
    return 0
