"""Peak memory of a process and its children, sampled in a background thread.

One sampler for the kit: the notebook budget (``cnnkit.course``, the test suite's conftest)
and the benchmark (``cnnkit.bench``) both measure with :class:`PeakMemory`.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

import psutil

__all__ = ["PeakMemory"]


class PeakMemory:
    """Sample the resident memory of a process and its children in a background thread.

    On Linux the kernel's own high-water mark (``VmHWM``) is read as well, so a spike between
    two samples is not missed for the main process.

    Args:
        pid: the process to watch; None watches this one.
        interval: seconds between two samples.
        high_water_mark: also read ``VmHWM``. It covers the whole life of the process, so
            leave it on for a process started for the measurement (a notebook's kernel) and
            turn it off to measure one stretch of a longer-lived process (a benchmark run).

    Attributes:
        bytes: the largest resident memory seen so far, in bytes.

    Example::

        with PeakMemory(pid) as peak:
            ...  # run cells in the kernel with this pid
        peak.bytes  # largest RSS seen, in bytes
    """

    def __init__(
        self, pid: int | None = None, *, interval: float = 0.1, high_water_mark: bool = True
    ):
        if interval <= 0:
            raise ValueError(
                f"`interval` must be a positive number of seconds. Received: interval={interval}"
            )
        self.pid = psutil.Process().pid if pid is None else pid
        self.interval = interval
        self.high_water_mark = high_water_mark
        self.bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cnnkit-peak-memory", daemon=True)

    @property
    def mib(self) -> float:
        """The peak so far in MiB (2**20 bytes)."""
        return self.bytes / 2**20

    def sample(self) -> int:
        """Measure once and return the peak so far, in bytes."""
        try:
            process = psutil.Process(self.pid)
            total = process.memory_info().rss
            for child in process.children(recursive=True):
                try:
                    total += child.memory_info().rss
                except psutil.Error:
                    continue
        except psutil.Error:
            return self.bytes
        kernel_peak = _high_water_mark(self.pid) if self.high_water_mark else 0
        self.bytes = max(self.bytes, total, kernel_peak)
        return self.bytes

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self) -> PeakMemory:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.sample()
        self._stop.set()
        self._thread.join()


def _high_water_mark(pid: int) -> int:
    """``VmHWM`` of ``/proc/<pid>/status`` in bytes (Linux); 0 where it is not available."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    return int(match.group(1)) * 1024 if match else 0
