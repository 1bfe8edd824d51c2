"""The watchdog wakes a process whose CPU time stands still, and only then."""

import signal
import subprocess
import sys
import textwrap
import time

import pytest

from cnnkit.watchdog import Watchdog

# A child that sleeps with no CPU use, like a kernel whose threads all wait on a futex, and
# counts the SIGCONTs it receives in a file: proof the wake-up reached it.
_SLEEPER = textwrap.dedent(
    """
    import signal, sys, time
    woken = 0
    def on_cont(signum, frame):
        global woken
        woken += 1
        open(sys.argv[1], "w").write(str(woken))
    signal.signal(signal.SIGCONT, on_cont)
    print("ready", flush=True)
    time.sleep(float(sys.argv[2]))
    """
)

_SPINNER = textwrap.dedent(
    """
    import sys, time
    end = time.time() + float(sys.argv[2])
    while time.time() < end:
        pass
    """
)

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGSTOP"), reason="POSIX signals only")


def _start(script, tmp_path, seconds):
    marker = tmp_path / "woken"
    child = subprocess.Popen(
        [sys.executable, "-c", script, str(marker), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    if script is _SLEEPER:
        assert child.stdout.readline().strip() == "ready"
    return child, marker


def test_an_idle_armed_process_is_woken_and_carries_on(tmp_path):
    child, marker = _start(_SLEEPER, tmp_path, 3.0)
    with Watchdog(child.pid, idle_seconds=0.5, interval=0.1) as dog:
        dog.arm()
        time.sleep(1.4)
    assert len(dog.wakeups) >= 2 and all(w >= 0.5 for w in dog.wakeups), dog.wakeups
    assert int(marker.read_text()) == len(dog.wakeups)  # each wake-up reached the child
    child.communicate(timeout=10)
    assert child.returncode == 0  # stopped and continued, never killed


def test_a_disarmed_process_waits_undisturbed(tmp_path):
    child, marker = _start(_SLEEPER, tmp_path, 1.5)
    with Watchdog(child.pid, idle_seconds=0.3, interval=0.1) as dog:
        time.sleep(1.0)  # a kernel between two cells: idle, and rightly so
    assert dog.wakeups == [] and not marker.exists()
    child.communicate(timeout=10)


def test_a_busy_process_is_left_alone(tmp_path):
    child, marker = _start(_SPINNER, tmp_path, 1.5)
    with Watchdog(child.pid, idle_seconds=0.5, interval=0.1) as dog:
        dog.arm()
        time.sleep(1.2)
    assert dog.wakeups == []
    child.communicate(timeout=10)


def test_a_finished_process_ends_the_watch(tmp_path):
    child, _ = _start(_SPINNER, tmp_path, 0.1)
    child.communicate(timeout=10)
    with Watchdog(child.pid, idle_seconds=0.2, interval=0.05) as dog:
        dog.arm()
        time.sleep(0.4)
    assert dog.wakeups == []


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match=r"must be positive numbers of seconds\. Received: "):
        Watchdog(1, idle_seconds=0)
