"""How much memory this process can still use (every task's up-front memory check reads it here)."""

from __future__ import annotations

import os
from pathlib import Path

CGROUP_FILES = (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"))
"""(limit, usage) files of cgroup v2 and v1."""


def available_memory_bytes() -> int | None:
    """Memory this process can still use: the smaller of the system's available RAM
    (/proc/meminfo MemAvailable, else ``os.sysconf``) and the room left under a cgroup limit
    (containers, Colab). None when neither can be read."""
    candidates = [value for value in (_mem_available(), _cgroup_room()) if value is not None]
    return min(candidates) if candidates else None


def _mem_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _cgroup_room() -> int | None:
    for limit_file, usage_file in CGROUP_FILES:
        try:
            limit_text = Path(limit_file).read_text().strip()
            if limit_text == "max" or int(limit_text) >= 2**60:
                continue
            return max(0, int(limit_text) - int(Path(usage_file).read_text().strip()))
        except (OSError, ValueError):
            continue
    return None
