"""What this machine has to offer a job (read where the job runs; on a cluster, an estimate)."""

from __future__ import annotations


def available_memory() -> int:
    """Bytes of memory available for new allocations (Linux MemAvailable; 0 if unknown)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0
