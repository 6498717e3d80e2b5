"""Where a submission's code runs: a bubblewrap seal on Linux, the weak rlimit sandbox elsewhere.

**sealed** (``bwrap`` from bubblewrap, the sandbox Flatpak uses): each submission's worker gets
- its own PID namespace: everything it starts dies with it, and it sees and signals no other
  process (``--unshare-pid --die-with-parent``);
- no network (``--unshare-net``: only a loopback of its own), its own IPC and host name;
- private tmpfs ``/tmp``, ``/var/tmp`` and ``/dev/shm`` of ``TMPFS_MB`` each, gone with it;
- a file system of read-only binds of only the interpreter, the installed packages (the
  ``rlhf_edu`` package, not the checkout around it) and its own copy of the submission: never
  the results folder, other submissions, ``solutions/``, ``tests/``, ``/root`` or ``/etc/shadow``;
- when the grader is root, a user id of its own (``setpriv``: no capabilities, no way back,
  ``no_new_privs``), so the process limit (RLIMIT_NPROC) counts this submission's tree only.
  As a normal user, bubblewrap's user namespace maps it to the grader's own user id.

**weak** (no ``bwrap``, no user namespaces, macOS): a process in its own session with the same
resource limits, as ``nobody`` when the grader is root; see course/INSTRUCTORS.md for what it
does not stop. The grader says so in a warning, in every results.json and in the class summary.

In both modes the worker sets its own rlimits (``sandbox.apply_limits``) and the grader watches
the memory of the worker's whole process tree (``tree_memory_mb``).
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

SEALED, WEAK = "sealed", "weak"
TMPFS_MB = 256
INSIDE_NOTEBOOK = "/grading/submission.ipynb"
INSIDE_WORKDIR = "/tmp"
TMPFS_FOLDERS = ("/tmp", "/var/tmp", "/dev/shm")
_UIDS = itertools.count(1_000_000 + (os.getpid() % 100_000) * 1_000)
_ETC_FILES = ("ld.so.cache", "localtime", "passwd", "group", "nsswitch.conf", "hosts")


@dataclass(frozen=True)
class Isolation:
    mode: str  # SEALED or WEAK
    reason: str = ""  # why not sealed


def _bound_paths() -> list[Path]:
    """What a worker must read: the interpreter, the standard library, site-packages, rlhf_edu."""
    import rlhf_edu

    paths = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix)}
    executable = Path(sys.executable)
    paths.add(executable.parent)
    paths.add(executable.resolve().parent.parent)
    for entry in sys.path:
        if entry and ("site-packages" in entry or "dist-packages" in entry):
            if Path(entry).is_dir():
                paths.add(Path(entry))
    paths.add(Path(rlhf_edu.__file__).resolve().parent)  # an editable install: only the package
    cache = os.environ.get("RLHF_EDU_CACHE")
    if cache and Path(cache).is_dir():
        paths.add(Path(cache))
    resolved = sorted({p.resolve() for p in paths if p.exists()} | {p for p in paths if p.exists()})
    kept: list[Path] = []
    for path in resolved:
        if path == Path("/") or any(path.is_relative_to(k) for k in kept):
            continue
        kept.append(path)
    return kept


def bwrap_command(
    inner: list[str], notebook: Path, uid: int | None, tmpfs_mb: int = TMPFS_MB
) -> list[str]:
    """The ``bwrap`` command line running ``inner`` sealed (see the module docstring)."""
    command = [
        "bwrap",
        "--unshare-pid",
        "--unshare-net",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--die-with-parent",
        "--new-session",
        "--hostname",
        "sandbox",
    ]
    if uid is None:
        command += ["--unshare-user"]
    # The private tmpfs first, so that a folder bound below /tmp (a cache) stays visible.
    command += ["--proc", "/proc", "--dev", "/dev", "--perms", "0755", "--dir", "/var"]
    for folder in TMPFS_FOLDERS:
        command += ["--perms", "1777", "--size", str(tmpfs_mb * 2**20), "--tmpfs", folder]
    usr_bound = False
    made: set[Path] = {Path(f) for f in TMPFS_FOLDERS} | {Path("/var"), Path("/dev")}
    binds: list[str] = []
    for name in ("usr", "bin", "lib", "lib32", "lib64", "sbin"):
        top = Path("/") / name
        if top.is_symlink():
            binds += ["--symlink", os.readlink(top), str(top)]
        elif top.is_dir():
            binds += ["--ro-bind", str(top), str(top)]
            usr_bound = usr_bound or name == "usr"
    for path in _bound_paths():
        if usr_bound and path.is_relative_to("/usr"):
            continue
        for parent in reversed(path.parents[:-1]):  # bwrap would copy the host's modes (0700)
            if parent not in made and not parent.is_relative_to("/usr"):
                made.add(parent)
                command += ["--perms", "0755", "--dir", str(parent)]
        binds += ["--ro-bind", str(path), str(path)]
    command += binds
    command += ["--perms", "0755", "--dir", "/etc"]
    for name in _ETC_FILES:
        if Path("/etc", name).exists():
            command += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    command += ["--perms", "0755", "--dir", str(Path(INSIDE_NOTEBOOK).parent)]
    command += ["--ro-bind", str(notebook), INSIDE_NOTEBOOK, "--chdir", INSIDE_WORKDIR]
    if uid is not None:
        command += [
            "setpriv",
            f"--reuid={uid}",
            f"--regid={uid}",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--no-new-privs",
        ]
    return command + inner


def sandbox_uid() -> int | None:
    """A fresh user id for a sealed worker when the grader is root (None: keep our own)."""
    return next(_UIDS) if os.geteuid() == 0 else None


def detect() -> Isolation:
    """Can a sealed worker start here and import what it needs? Otherwise why not."""
    if not sys.platform.startswith("linux"):
        return Isolation(WEAK, f"no bubblewrap seal on {sys.platform}")
    if shutil.which("bwrap") is None:
        return Isolation(WEAK, "bwrap is not installed (apt-get install bubblewrap)")
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        return Isolation(WEAK, "setpriv is not installed (util-linux)")
    probe = Path(os.devnull)
    inner = [
        sys.executable,
        "-I",
        "-c",
        "import cloudpickle, numpy, rlhf_edu.grading.sandbox; print('ok')",
    ]
    try:
        result = subprocess.run(
            bwrap_command(inner, probe, sandbox_uid()),
            capture_output=True,
            text=True,
            timeout=120,
            cwd="/",
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        return Isolation(WEAK, f"bwrap did not start: {err}")
    if result.returncode == 0 and result.stdout.strip() == "ok":
        return Isolation(SEALED)
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    return Isolation(WEAK, f"bwrap did not start: {lines[-1] if lines else result.returncode}")


def _children_by_parent() -> dict[int, list[int]]:
    """Every process's children, from /proc/*/stat (kernels without .../task/*/children)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    parent = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(parent, []).append(int(entry))
    return children


def _children(pid: int, table: dict[int, list[int]] | None) -> list[int]:
    if table is not None:
        return table.get(pid, [])
    found = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                found += [int(c) for c in fh.read().split()]
        except OSError:
            continue
    return found


_HAS_CHILDREN_FILE = os.path.exists(f"/proc/{os.getpid()}/task/{os.getpid()}/children")


def tree_memory_mb(pid: int, limit: int = 4096) -> float:
    """Resident memory of ``pid`` and all its descendants, in MiB (0 where /proc cannot tell)."""
    table = None if _HAS_CHILDREN_FILE else _children_by_parent()
    total_kb, todo, seen = 0, [pid], set()
    while todo and len(seen) < limit:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            with open(f"/proc/{current}/statm") as fh:
                total_kb += int(fh.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)
        except (OSError, ValueError, IndexError):
            continue
        todo += _children(current, table)
    return total_kb / 1024


# --- the weak sandbox -------------------------------------------------------------------------

SANDBOX_TOKEN_ENV = "RLHF_EDU_SANDBOX_TOKEN"


def sweep_escaped_processes(token: str, folder: Path) -> int:
    """Weak sandbox: kill what a worker left outside its process group (``setsid`` and fork),
    every process whose environment carries its token or whose working folder is in its folder.
    (A process that also clears its environment and leaves the folder escapes this; the seal's
    PID namespace does not have this gap.) Returns how many were killed."""
    marker = f"{SANDBOX_TOKEN_ENV}={token}".encode()
    killed = 0
    for entry in Path("/proc").glob("[0-9]*"):
        if int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if marker in environ.split(b"\0") or cwd == str(folder) or cwd.startswith(f"{folder}/"):
            try:
                os.kill(int(entry.name), 9)
                killed += 1
            except OSError:
                pass
    return killed
