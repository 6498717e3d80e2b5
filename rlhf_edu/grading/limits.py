"""A worker's process limits and, in the weak sandbox, its drop to an unprivileged user.

``apply_limits`` sets soft = hard rlimits that student code cannot raise again: address space
(memory), CPU seconds, size of any file it writes, processes/threads, open files, no core dumps.
``drop_privileges`` (weak sandbox, grader run as root) becomes ``nobody`` for good; in the seal,
``setpriv`` does this before Python starts.
"""

from __future__ import annotations

import os
import resource
import signal
from pathlib import Path
from typing import Any


def _count_tasks_of(uid: int) -> int:
    """Processes + threads currently owned by ``uid`` (what RLIMIT_NPROC counts)."""
    total = 0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
        if int(fields.get("Uid", "-1").split()[0]) == uid:
            total += int(fields.get("Threads", "1").strip() or 1)
    return total


def apply_limits(config: dict[str, Any], uid: int) -> None:
    """Resource limits, soft = hard, so the code we run cannot raise them again."""

    def limit(which: int, value: int) -> None:
        soft, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(which, (value, value))

    limit(resource.RLIMIT_AS, int(config["memory_mb"]) * 2**20)
    limit(resource.RLIMIT_CPU, int(config["cpu_seconds"]))
    limit(resource.RLIMIT_FSIZE, int(config["file_size_mb"]) * 2**20)
    limit(resource.RLIMIT_CORE, 0)
    limit(resource.RLIMIT_NOFILE, 256)
    if hasattr(resource, "RLIMIT_NPROC"):
        limit(resource.RLIMIT_NPROC, _count_tasks_of(uid) + int(config["extra_processes"]))
    # Writing past RLIMIT_FSIZE raises OSError (EFBIG) instead of killing us with SIGXFSZ.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


CAP_DAC_READ_SEARCH = 2
_PR_SET_KEEPCAPS = 8
_PR_CAPBSET_DROP = 24
_PR_SET_NO_NEW_PRIVS = 38
_LINUX_CAPABILITY_VERSION_3 = 0x20080522


def _libc():
    import ctypes
    import ctypes.util

    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _set_capabilities(mask: int) -> None:
    """capset(2): effective = permitted = ``mask`` (capabilities 0-31), nothing inheritable."""
    import ctypes

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [
            ("effective", ctypes.c_uint32),
            ("permitted", ctypes.c_uint32),
            ("inheritable", ctypes.c_uint32),
        ]

    header = Header(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (Data * 2)(Data(mask, mask, 0), Data(0, 0, 0))
    if _libc().capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset failed")


def drop_privileges(uid: int, gid: int, keep_read: bool = False) -> None:
    """Become ``uid``/``gid`` for good (no supplementary groups); check it cannot be undone.

    Args:
        keep_read: keep only the capability to *read* any file (CAP_DAC_READ_SEARCH), for
            machines whose Python lives where the sandbox user cannot read it (e.g. under
            /root). Writing stays forbidden; executed programs lose it.
    """
    libc = _libc()
    libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)  # no setuid binaries, ever
    if keep_read:
        for cap in range(64):
            if cap != CAP_DAC_READ_SEARCH:
                libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0)
        libc.prctl(_PR_SET_KEEPCAPS, 1, 0, 0, 0)
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    if keep_read:
        _set_capabilities(1 << CAP_DAC_READ_SEARCH)
    if os.getuid() != uid or os.geteuid() != uid:
        raise RuntimeError("dropping privileges failed")
    try:
        os.setuid(0)
    except PermissionError:
        pass
    else:
        raise RuntimeError("dropped privileges could be regained")
