#!/usr/bin/env bash
# Regenerate constraints/cpu.txt, the lock of the tested stack, on purpose (never by CI).
#
#   bash constraints/update.sh
#
# Resolves the newest versions the registry offers for rlhf_edu[dev] with torch held at the
# CPU build below, in a throw-away virtual environment, and writes every installed distribution
# as an exact pin. Run the whole test suite against the new lock before committing it.
set -euo pipefail
cd "$(dirname "$0")/.."
TORCH="torch==2.13.0"
env_dir="$(mktemp -d)"
trap 'rm -rf "$env_dir"' EXIT
python3 -m venv "$env_dir"
"$env_dir/bin/pip" install --quiet "$TORCH" -e ".[dev]"
{
    cat <<HEADER
# The lock: every distribution of a tested CPU install of rlhf_edu[dev], pinned exactly.
#
# The README's quick start and CI install with '-c constraints/cpu.txt', so the install a
# student makes next month is the one CI tested. Regenerate it on purpose with
# 'bash constraints/update.sh' (made by it on $(date -u +%Y-%m-%d) with $(python3 --version)).
#
# '$TORCH' resolves to the small CPU build where one is on the package path (as on the
# course's machines); an unpinned torch would pull a multi-GB CUDA build. Have a GPU and your
# own CUDA torch already? Leave this file out: rlhf_edu only asks for 'torch>=2.2', so
# 'pip install -e .' keeps the torch you have.
HEADER
    "$env_dir/bin/pip" freeze --all --exclude-editable | grep -v "^pip==" | sed -E 's/^(torch==[^+]+)\+.*/\1/' | LC_ALL=C sort -f
} > constraints/cpu.txt
echo "wrote constraints/cpu.txt ($(grep -c '==' constraints/cpu.txt) pins)"
