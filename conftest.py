"""Test-suite switches, set before any test or notebook kernel starts.

The suite runs offline and in fast mode by design: notebooks executed by nbval inherit
these variables, so they train on a few hundred images and never try to download.
"""

import json
import os
import time
from pathlib import Path

import pytest

os.environ["CNNKIT_FAST"] = "1"
os.environ["CNNKIT_OFFLINE"] = "1"
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


# Per-notebook budget under nbval. nbval collects a notebook as one IPyNbFile whose setup
# starts the kernel (IPyNbFile.kernel, a RunningKernel; its KernelManager is .km) and whose
# code cells are items run in that kernel in order. We time a notebook from its kernel's
# start to its last cell, sample the kernel's memory (PeakMemory: psutil + Linux VmHWM),
# and fail the first cell that takes it over budget in fast mode. A Watchdog wakes a kernel
# that sits without CPU time for 15 s while a cell runs (see cnnkit.watchdog), and the summary
# says so.
_NOTEBOOK_RUNS: dict[str, dict] = {}
_STALL_SECONDS = 15.0


def _notebook_of(item):
    parent = getattr(item, "parent", None)
    return parent if type(parent).__name__ == "IPyNbFile" else None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    notebook = _notebook_of(item)
    if notebook is not None:
        _NOTEBOOK_RUNS.setdefault(notebook.nodeid, {"start": time.perf_counter()})
    result = yield
    if notebook is not None:
        run = _NOTEBOOK_RUNS[notebook.nodeid]
        if "memory" not in run and notebook.kernel is not None:
            from cnnkit.course import PeakMemory
            from cnnkit.watchdog import Watchdog

            pid = notebook.kernel.km.provisioner.pid
            run["memory"] = PeakMemory(pid).__enter__()
            run["watchdog"] = Watchdog(pid, idle_seconds=_STALL_SECONDS).__enter__()
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    notebook = _notebook_of(item)
    run = _NOTEBOOK_RUNS.get(notebook.nodeid) if notebook is not None else None
    if run is not None and "watchdog" in run:
        run["watchdog"].arm()
    try:
        result = yield
    finally:
        if run is not None and "watchdog" in run:
            run["watchdog"].disarm()
    if run is not None and "memory" in run:
        from cnnkit.course import over_budget
        from cnnkit.env import is_fast

        run["seconds"] = time.perf_counter() - run["start"]
        run["peak_bytes"] = run["memory"].sample()
        reasons = over_budget(run["seconds"], run["peak_bytes"]) if is_fast() else []
        if reasons and not run.get("over"):
            run["over"] = reasons
            pytest.fail(f"{Path(notebook.path).name}: {'; '.join(reasons)} (fast mode)")
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    notebook = _notebook_of(item)
    run = _NOTEBOOK_RUNS.get(notebook.nodeid) if notebook is not None else None
    if run is not None and "memory" in run and _notebook_of(nextitem) is not notebook:
        run["memory"].__exit__(None, None, None)
        run["watchdog"].__exit__(None, None, None)
        run["seconds"] = time.perf_counter() - run["start"]
        run["peak_bytes"] = run["memory"].bytes
    return (yield)


def pytest_terminal_summary(terminalreporter):
    runs = {k: v for k, v in _NOTEBOOK_RUNS.items() if "seconds" in v}
    if not runs:
        return
    from cnnkit.course import FAST_MAX_BYTES, FAST_MAX_SECONDS

    terminalreporter.section(
        f"notebook budget (fast mode: {FAST_MAX_SECONDS:g} s, "
        f"{FAST_MAX_BYTES / 1024**3:g} GiB per notebook)"
    )
    for nodeid, run in runs.items():
        verdict = "OVER" if run.get("over") else "ok"
        wakeups = run["watchdog"].wakeups
        stalls = f"  kernel stalled and was woken {len(wakeups)}x" if wakeups else ""
        terminalreporter.write_line(
            f"{verdict:>4}  {nodeid:<50} {run['seconds']:6.1f} s "
            f"{run['peak_bytes'] / 1024**2:7,.0f} MiB{stalls}"
        )
    record = Path(terminalreporter.config.rootpath, "build", "notebook-budget.json")
    record.parent.mkdir(exist_ok=True)
    record.write_text(
        json.dumps(
            {
                k: {"seconds": round(v["seconds"], 1), "peak_mib": round(v["peak_bytes"] / 2**20)}
                for k, v in runs.items()
            },
            indent=2,
        )
    )
