"""Wake a process that hangs with its CPU idle, and count how often that happened.

On some virtual machines a TensorFlow kernel, deep into a long training cell, can stop with
every thread asleep on a futex and never wake up: a lost wake-up (TensorFlow issues #8696
and #60747 describe the same hang). Stopping and continuing the process (SIGSTOP, then
SIGCONT) makes each sleeping thread check its condition again, and the run goes on. The
course runner (:func:`cnnkit.course.run_notebook`) watches each kernel with a
:class:`Watchdog` while a cell executes and reports every wake-up it had to give, so a
dry run of the course neither hangs for an hour nor hides that it stalled.
"""

from __future__ import annotations

import signal
import threading
import time

import psutil

__all__ = ["Watchdog"]


class Watchdog:
    """Watch a process's CPU time in a background thread; wake it when it stops moving.

    A process (with its children) that uses no CPU time for ``idle_seconds`` while
    :meth:`arm` is in force gets SIGSTOP then SIGCONT. Between :meth:`disarm` and the next
    :meth:`arm` (a kernel waiting for its next cell) it is left alone. POSIX only: elsewhere
    the watchdog only records the stalls it sees.

    Args:
        pid: the process to watch.
        idle_seconds: how long the CPU time may stand still before the process is woken.
        interval: seconds between two readings of the CPU time.

    Attributes:
        wakeups: for each wake-up, the seconds the process had been idle.

    Example::

        with Watchdog(kernel_pid, idle_seconds=60) as dog:
            dog.arm()
            ...  # execute a cell
            dog.disarm()
        dog.wakeups  # [] when nothing stalled
    """

    def __init__(self, pid: int, *, idle_seconds: float = 60.0, interval: float = 1.0):
        if idle_seconds <= 0 or interval <= 0:
            raise ValueError(
                "`idle_seconds` and `interval` must be positive numbers of seconds. "
                f"Received: idle_seconds={idle_seconds}, interval={interval}"
            )
        self.pid = pid
        self.idle_seconds = idle_seconds
        self.interval = interval
        self.wakeups: list[float] = []
        self._armed = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cnnkit-watchdog", daemon=True)

    def arm(self) -> None:
        """Start counting idle time (a cell has been sent to the process)."""
        self._armed.set()

    def disarm(self) -> None:
        """Stop counting idle time (the cell is done; waiting is now expected)."""
        self._armed.clear()

    def _cpu_seconds(self) -> float | None:
        try:
            process = psutil.Process(self.pid)
            times = process.cpu_times()
            total = times.user + times.system
            for child in process.children(recursive=True):
                try:
                    child_times = child.cpu_times()
                except psutil.Error:
                    continue
                total += child_times.user + child_times.system
        except psutil.Error:
            return None
        return total

    def _wake(self, idle: float) -> None:
        self.wakeups.append(round(idle, 1))
        stop, cont = getattr(signal, "SIGSTOP", None), getattr(signal, "SIGCONT", None)
        if stop is None or cont is None:
            return
        try:
            process = psutil.Process(self.pid)
            process.send_signal(stop)
            time.sleep(0.05)
            process.send_signal(cont)
        except psutil.Error:
            return

    def _run(self) -> None:
        last, since = None, time.monotonic()
        while not self._stop.wait(self.interval):
            now = time.monotonic()
            used = self._cpu_seconds()
            if used is None:
                return  # the process is gone
            if not self._armed.is_set() or used != last:
                last, since = used, now
                continue
            if now - since >= self.idle_seconds:
                self._wake(now - since)
                since = now

    def __enter__(self) -> Watchdog:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
