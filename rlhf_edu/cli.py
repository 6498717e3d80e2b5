"""``python -m rlhf_edu.cli``: the ``rlhf-edu`` command line, which lives in ``rlhf_edu.app.cli``."""

import sys

from rlhf_edu.app.cli import build_parser, main

__all__ = ["build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
