"""The course as a whole: its notebooks, their launch links, and a headless dry run.

``python -m cnnkit run-notebooks`` executes the notebooks one after the other, as a learner
would (a fresh kernel each, top to bottom), and writes the executed copies and an
``index.html`` with, per notebook, its status, wall time, the kernel's peak memory and the key
figure it reports, so an instructor can dry-run the whole course before a workshop.

The same budget (90 s and 2 GB per notebook in fast mode) is enforced by the test suite,
which measures nbval's kernels with :class:`PeakMemory`.
"""

from __future__ import annotations

import html
import os
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from .memory import PeakMemory
from .watchdog import Watchdog

__all__ = [
    "FAST_MAX_BYTES",
    "FAST_MAX_SECONDS",
    "NotebookResult",
    "PeakMemory",
    "STALL_SECONDS",
    "binder_badge",
    "binder_url",
    "COLAB_PACKAGES",
    "colab_badge",
    "colab_commands",
    "colab_url",
    "find_notebooks",
    "install_line",
    "key_figure",
    "over_budget",
    "run_course",
    "run_notebook",
    "select",
    "setup_cell",
    "update_links",
    "write_index",
]

FAST_MAX_SECONDS = 90.0
"""Wall-time budget of one notebook in fast mode (``CNNKIT_FAST=1``), kernel start included."""

FAST_MAX_BYTES = 2 * 1024**3
"""Peak-memory budget of one notebook's kernel in fast mode: 2 GiB, what Binder gives."""

STALL_SECONDS = 60.0
"""Seconds a running cell's kernel may use no CPU time before :func:`run_notebook` wakes it."""

_NOTEBOOK_NAME = re.compile(r"^(\d{2})_[a-z0-9_]+\.ipynb$")
_BRANCH = "main"


def _repo_url() -> str:
    from . import REPO_URL

    return REPO_URL.rstrip("/")


def _github_path() -> str:
    """``owner/name`` of the configured GitHub repository."""
    url = _repo_url()
    prefix = "https://github.com/"
    if not url.startswith(prefix):
        raise ValueError(
            f"`cnnkit.REPO_URL` must be a GitHub repository URL ({prefix}<owner>/<name>) so "
            f"Colab and Binder can open it. Received: REPO_URL={url!r}"
        )
    return url[len(prefix) :]


def colab_url(notebook: str) -> str:
    """The URL that opens ``notebooks/<notebook>`` from the configured repository in Colab."""
    return (
        f"https://colab.research.google.com/github/{_github_path()}/blob/{_BRANCH}/"
        f"notebooks/{notebook}"
    )


def colab_badge(notebook: str) -> str:
    """The Markdown Colab badge that each notebook carries as its fourth cell.

    Args:
        notebook: file name inside ``notebooks/``, e.g. ``"03_convolution_by_hand.ipynb"``.

    Returns:
        ``[![Open In Colab](...colab-badge.svg)](<colab_url(notebook)>)``.
    """
    return (
        "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
        f"({colab_url(notebook)})"
    )


def binder_url(notebook: str | None = None) -> str:
    """The mybinder.org URL that builds the repository and opens JupyterLab.

    Args:
        notebook: a file in ``notebooks/`` to open; None opens the ``notebooks/`` folder.
    """
    target = f"notebooks/{notebook}" if notebook else "notebooks"
    return (
        f"https://mybinder.org/v2/gh/{_github_path()}/{_BRANCH}"
        f"?urlpath={quote('lab/tree/' + target, safe='')}"
    )


def binder_badge(notebook: str | None = None) -> str:
    """The Markdown "launch binder" button for :func:`binder_url`."""
    return f"[![Binder](https://mybinder.org/badge_logo.svg)]({binder_url(notebook)})"


def install_line() -> str:
    """The pip requirement the setup cell installs in Colab: ``cnnkit @ git+<REPO_URL>``."""
    return f"cnnkit @ git+{_repo_url()}"


COLAB_PACKAGES = "/tmp/colab-packages.txt"
"""Where the setup cell lists the packages Colab has, as pip constraints, before installing."""


def colab_commands(requirement: str | None = None) -> list[str]:
    """The two shell commands the setup cell runs in Colab, in order.

    The first lists every installed distribution as ``name==version`` (cnnkit itself left
    out, so a rerun can reinstall it) into :data:`COLAB_PACKAGES`; the second installs the kit
    with that list as pip constraints. pip may then only add what Colab lacks (ipycanvas);
    it never upgrades or downgrades TensorFlow, Keras, numpy or anything else Colab ships, and
    stops with a resolver error rather than break the runtime. ``make test-colab`` runs the
    same commands against Colab's pip freeze.

    Args:
        requirement: what to install; None gives :func:`install_line` (``"."`` installs a
            checkout, as the Colab-stack job does).
    """
    return [
        f"pip list --format=freeze | grep -v '^cnnkit==' > {COLAB_PACKAGES}",
        f'pip install -q -c {COLAB_PACKAGES} "{requirement or install_line()}"',
    ]


def setup_cell() -> str:
    """The source of every notebook's setup cell (its first code cell).

    In Colab it installs the kit with :func:`colab_commands`; everywhere else it only imports
    cnnkit and calls ``cnnkit.setup()``. ``python -m cnnkit links`` writes it into every
    notebook; the structure test (``tests/test_notebooks.py``) fails on any other text.
    """
    listing, install = colab_commands()
    return (
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules:  # Colab: add the course kit, keep Colab\'s packages\n'
        f"    !{listing}\n"
        f"    %{install}\n"
        "\n"
        "import cnnkit\n"
        "\n"
        "cnnkit.setup()"
    )


def _is_setup_cell(cell) -> bool:
    return cell.cell_type == "code" and (
        "google.colab" in cell.source or "cnnkit.setup()" in cell.source
    )


_LINKS = (
    # A link to some GitHub repository, and what it becomes for the configured one.
    (
        re.compile(r"https://colab\.research\.google\.com/github/[\w.-]+/[\w.-]+/blob/[\w.-]+/"),
        "https://colab.research.google.com/github/{repo}/blob/{branch}/",
    ),
    (
        re.compile(r"https://mybinder\.org/v2/gh/[\w.-]+/[\w.-]+/[\w.-]+"),
        "https://mybinder.org/v2/gh/{repo}/{branch}",
    ),
    (
        re.compile(r"cnnkit @ git\+https://github\.com/[\w.-]+/[\w.-]+"),
        "cnnkit @ git+https://github.com/{repo}",
    ),
)


def _relink(text: str) -> str:
    repo = _github_path()
    for pattern, template in _LINKS:
        url = template.format(repo=repo, branch=_BRANCH)
        text = pattern.sub(lambda _, url=url: url, text)
    return text


def update_links(
    notebooks: Sequence[str | os.PathLike],
    readme: str | os.PathLike | None = None,
    *,
    check: bool = False,
) -> list[Path]:
    """Point Colab badges and Binder buttons at ``cnnkit.REPO_URL``; rewrite setup cells.

    The one place to change for a fork is ``REPO_URL`` in ``cnnkit/__init__.py``; this
    rewrites the copies of it in the notebooks (badge cell) and the README, and replaces each
    notebook's setup cell (its first code cell that checks for Colab or calls
    ``cnnkit.setup()``) with :func:`setup_cell` as a whole.

    Args:
        notebooks: ``.ipynb`` files to update.
        readme: a Markdown file to update as well (the README's launch buttons).
        check: only report the files that point elsewhere; write nothing.

    Returns:
        The files that pointed elsewhere (and were rewritten unless ``check``).
    """
    import nbformat

    stale = []
    for path in map(Path, notebooks):
        nb = nbformat.read(path, as_version=4)
        changed = False
        setup = next((cell for cell in nb.cells if _is_setup_cell(cell)), None)
        for cell in nb.cells:
            new = setup_cell() if cell is setup else _relink(cell.source)
            changed |= new != cell.source
            cell.source = new
        if changed:
            stale.append(path)
            if not check:
                nbformat.write(nb, path)
    if readme is not None:
        readme = Path(readme)
        text = readme.read_text(encoding="utf-8")
        if _relink(text) != text:
            stale.append(readme)
            if not check:
                readme.write_text(_relink(text), encoding="utf-8")
    return stale


def find_notebooks(directory: str | os.PathLike = "notebooks") -> list[Path]:
    """The course notebooks in ``directory``, in course order (``NN_name.ipynb``).

    Returns:
        Sorted paths; files that do not follow the ``NN_name.ipynb`` pattern are left out.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ValueError(f"`directory` must be a folder of notebooks. Received: {directory}")
    return sorted(p for p in directory.glob("*.ipynb") if _NOTEBOOK_NAME.match(p.name))


def select(notebooks: Sequence[Path], only: str | Iterable[str] | None) -> list[Path]:
    """Keep the notebooks whose two-digit numbers are listed in ``only`` ("04,06" or ["4", "6"]).

    Raises:
        ValueError: when a number matches no notebook.
    """
    if only is None:
        return list(notebooks)
    wanted = [s.strip() for s in only.split(",")] if isinstance(only, str) else list(only)
    numbers = {s.zfill(2) for s in wanted if s}
    known = {_NOTEBOOK_NAME.match(p.name).group(1): p for p in notebooks}
    unknown = sorted(numbers - set(known))
    if unknown or not numbers:
        raise ValueError(
            "`only` must list notebook numbers such as '04,06'; available: "
            f"{', '.join(sorted(known)) or 'none'}. Received: only={only!r}"
        )
    return [p for p in notebooks if _NOTEBOOK_NAME.match(p.name).group(1) in numbers]


_KEY_FIGURE = re.compile(
    r"\b(?P<label>(?:test|validation|val)\s+(?:top-[15]\s+)?(?:accuracy|error|mAP)"
    r"|mAP(?:@\d+(?:\.\d+)?)?)(?:\s*[:=]\s*|\s+)(?P<value>[-+]?\d+(?:\.\d+)?%?)"
    r"(?:\s*->\s*(?P<final>[-+]?\d+(?:\.\d+)?%?))?(?![\w.])",
    re.IGNORECASE,
)


def key_figure(notebook) -> str | None:
    """The key figure an executed notebook reports, e.g. ``"test accuracy: 0.912"``.

    It is the last ``<label>: <number>`` printed to stdout, where the label is test or
    validation accuracy, error or mAP and the colon is optional (``test accuracy: 0.912``,
    ``final validation accuracy 0.767``, ``val accuracy = 91.2%``, ``mAP@0.5: 0.43``); of
    ``validation accuracy 0.767 -> 0.933`` it takes the value after the arrow.
    Test figures win over validation figures.

    Args:
        notebook: an executed ``nbformat.NotebookNode``.

    Returns:
        ``"<label>: <value>"`` or None when the notebook prints no such line.
    """
    found: list[tuple[str, str]] = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stdout":
                found += [
                    (m["label"], m["final"] or m["value"])
                    for m in _KEY_FIGURE.finditer(output["text"])
                ]
    if not found:
        return None
    tests = [f for f in found if f[0].lower().startswith("test")]
    label, value = (tests or found)[-1]
    return f"{label}: {value}"


@dataclass
class NotebookResult:
    """What one notebook's run gave: see :func:`run_notebook`."""

    name: str
    status: str
    seconds: float
    peak_bytes: int
    cells: int
    output: Path
    kernel_log: Path
    key_figure: str | None = None
    failed_cell: int | None = None
    error: str | None = None
    over_budget: list[str] = field(default_factory=list)
    environment: str | None = None
    wakeups: list[float] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "passed"

    @property
    def stall_note(self) -> str | None:
        """``kernel stalled once (CPU idle 61 s) and was woken``; None when it never stalled."""
        if not self.wakeups:
            return None
        idle = ", ".join(f"{w:.0f} s" for w in self.wakeups)
        times = "once" if len(self.wakeups) == 1 else f"{len(self.wakeups)} times"
        return f"kernel stalled {times} (CPU idle {idle}) and was woken"

    @property
    def mode(self) -> str | None:
        """The budget the notebook ran under, read from its ``cnnkit.setup()`` line."""
        match = re.search(r"\| mode: (\w+) \|", self.environment or "")
        return match.group(1) if match else None


def run_notebook(
    path: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    full: bool = False,
    timeout: float | None = None,
    progress: bool = True,
) -> NotebookResult:
    """Execute one notebook in a fresh kernel and save the executed copy in ``out_dir``.

    Args:
        path: the ``.ipynb`` file; it runs with its own folder as working directory.
        out_dir: folder for the executed copy (same file name) and the kernel's own
            stdout and stderr (``<stem>.kernel.log``: TensorFlow's start-up lines, or why a
            kernel died).
        full: run in full mode (the CPU or GPU recipe) instead of fast mode
            (``CNNKIT_FAST=1``: a few hundred images, a few epochs).
        timeout: per-cell limit in seconds; None gives 120 s in fast mode, 1 h in full mode.
        progress: show a progress bar over the notebook's cells (tqdm, on stderr).

    A :class:`cnnkit.watchdog.Watchdog` watches the kernel while each cell runs: a kernel
    whose CPU time stands still for :data:`STALL_SECONDS` is woken (SIGSTOP, SIGCONT), and the
    result's ``wakeups`` lists how long it had been idle each time.

    Returns:
        A :class:`NotebookResult`. A failing cell does not raise: the result has
        ``status="failed"``, the cell's index among code cells (0-based, as nbval counts) and
        the error, and the copy holds the outputs up to that cell. In fast mode a notebook
        over :data:`FAST_MAX_SECONDS` or :data:`FAST_MAX_BYTES` is failed too.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError
    from tqdm.auto import tqdm

    path = Path(path)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    nb = nbformat.read(path, as_version=4)
    code_cells = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    # The kernel draws as a learner's does (matplotlib's inline backend, not Agg, under which
    # a returned Figure is only its text repr), so the HTML copies show every figure.
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    if full:
        env.pop("CNNKIT_FAST", None)
    else:
        env["CNNKIT_FAST"] = "1"
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    limit = timeout if timeout is not None else (3600 if full else 120)

    bar = tqdm(total=len(code_cells), desc=path.stem, unit="cell", disable=not progress)
    state: dict = {}

    def on_start(notebook):
        pid = client.km.provisioner.pid
        state["memory"] = PeakMemory(pid).__enter__()
        state["watchdog"] = Watchdog(pid, idle_seconds=STALL_SECONDS).__enter__()

    def on_execute(cell, cell_index):
        state["watchdog"].arm()

    def on_executed(cell, cell_index, execute_reply):
        state["watchdog"].disarm()
        bar.update(1)

    def on_error(cell, cell_index, execute_reply):
        state.setdefault("failed", code_cells.index(cell_index))

    client = NotebookClient(
        nb,
        timeout=round(limit),  # nbclient 0.10 (Colab's) takes whole seconds only
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        on_notebook_start=on_start,
        on_cell_execute=on_execute,
        on_cell_executed=on_executed,
        on_cell_error=on_error,
    )
    error = None
    kernel_log = out_dir / f"{path.stem}.kernel.log"
    start = time.perf_counter()
    try:
        with kernel_log.open("w") as log:
            client.execute(env=env, stdout=log, stderr=log)
    except CellTimeoutError as exc:
        error = f"CellTimeoutError: cell ran past {limit:g} s ({str(exc).splitlines()[0]})"
    except CellExecutionError as exc:
        error = f"{exc.ename}: {exc.evalue}".strip().rstrip(":")
        line = _failing_line(exc.traceback)
        if line:
            error += f" at `{line}`"
    except Exception as exc:  # a dead kernel or a broken notebook must not stop the course run
        error = f"{type(exc).__name__}: {exc}"
    finally:
        seconds = time.perf_counter() - start
        bar.close()
        memory = state.get("memory")
        if memory is not None:
            memory.__exit__(None, None, None)
        watchdog = state.get("watchdog")
        if watchdog is not None:
            watchdog.__exit__(None, None, None)
    if error and "failed" not in state:
        state["failed"] = _first_unexecuted(nb, code_cells)
    output = out_dir / path.name
    nbformat.write(nb, output)
    _write_html(nb, out_dir / f"{path.stem}.html")

    result = NotebookResult(
        name=path.name,
        status="failed" if error else "passed",
        seconds=seconds,
        peak_bytes=memory.bytes if memory else 0,
        cells=len(code_cells),
        output=output,
        kernel_log=kernel_log,
        key_figure=key_figure(nb),
        failed_cell=state.get("failed") if error else None,
        error=error,
        environment=_setup_line(nb),
        wakeups=list(watchdog.wakeups) if watchdog else [],
    )
    if not full:
        result.over_budget = over_budget(result.seconds, result.peak_bytes)
        if result.over_budget:
            result.status = "failed"
            result.error = "; ".join(filter(None, [result.error, *result.over_budget]))
    return result


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _failing_line(traceback: str) -> str | None:
    """The source line IPython's traceback marks last with an arrow (``---> 28 assert ...``)."""
    marked = [
        line for line in _ANSI.sub("", traceback or "").splitlines() if re.match(r"\s*-{3,}>", line)
    ]
    if not marked:
        return None
    code = re.sub(r"^\s*-{3,}>\s*\d*\s?", "", marked[-1]).strip()
    return code[:80] or None


def _write_html(nb, path: Path) -> None:
    """An HTML copy of the executed notebook, to read its outputs in a browser."""
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter(embed_images=True).from_notebook_node(nb)
    path.write_text(body, encoding="utf-8")


def _setup_line(nb) -> str | None:
    """The one line ``cnnkit.setup()`` printed (versions, devices, mode), if it ran."""
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            for line in output.get("text", "").splitlines():
                if line.startswith("cnnkit: "):
                    return line[len("cnnkit: ") :]
    return None


def _first_unexecuted(nb, code_cells: list[int]) -> int | None:
    for number, index in enumerate(code_cells):
        if nb.cells[index].get("execution_count") is None:
            return number
    return None


def over_budget(seconds: float, peak_bytes: int) -> list[str]:
    """Why a notebook broke the fast-mode budget (empty when it did not)."""
    reasons = []
    if seconds > FAST_MAX_SECONDS:
        reasons.append(f"wall time {seconds:.1f} s is over the {FAST_MAX_SECONDS:g} s budget")
    if peak_bytes > FAST_MAX_BYTES:
        reasons.append(f"peak memory {_mib(peak_bytes)} is over the {_mib(FAST_MAX_BYTES)} budget")
    return reasons


def _mib(n: int) -> str:
    return f"{n / 1024**2:,.0f} MiB"


def run_course(
    notebooks: Sequence[str | os.PathLike],
    out_dir: str | os.PathLike = "build/course",
    *,
    full: bool = False,
    timeout: float | None = None,
    progress: bool = True,
) -> list[NotebookResult]:
    """Run ``notebooks`` one after the other (see :func:`run_notebook`) and write the index.

    A failing notebook is recorded and the rest still run.

    Returns:
        One :class:`NotebookResult` per notebook, in order; ``<out_dir>/index.html`` lists them.
    """
    results = []
    for path in notebooks:
        results.append(run_notebook(path, out_dir, full=full, timeout=timeout, progress=progress))
        write_index(results, out_dir, full=full)
    return results


def write_index(
    results: Sequence[NotebookResult], out_dir: str | os.PathLike, *, full: bool = False
) -> Path:
    """Write ``<out_dir>/index.html``: one row per notebook run, linking its executed copy."""
    from . import __version__

    out_dir = Path(out_dir)
    modes = sorted({r.mode for r in results if r.mode})
    environment = next((r.environment for r in results if r.environment), "not reported")
    rows = []
    for r in results:
        failed = (
            f"code cell {r.failed_cell}: {html.escape(r.error or '')}"
            if r.failed_cell is not None
            else html.escape(r.error or "")
        )
        if r.stall_note:
            failed = "; ".join(filter(None, [failed, html.escape(r.stall_note)]))
        rows.append(
            f'<tr class="{r.status}"><td><a href="{quote(r.output.stem)}.html">'
            f"{html.escape(r.name)}</a> "
            f'<a class="aside" href="{quote(r.output.name)}">ipynb</a></td>'
            f'<td class="status">{r.status}</td><td class="num">{r.seconds:.1f} s</td>'
            f'<td class="num">{_mib(r.peak_bytes)}</td>'
            f"<td>{html.escape(r.key_figure or '—')}</td><td>{failed}</td>"
            f'<td><a href="{quote(r.kernel_log.name)}">log</a></td></tr>'
        )
    passed = sum(r.ok for r in results)
    total = sum(r.seconds for r in results)
    page = _INDEX.format(
        summary=(
            f"{passed} of {len(results)} notebooks passed in {total / 60:.1f} min "
            f"({' and '.join(modes) or ('full' if full else 'fast')} mode)"
        ),
        env=html.escape(
            f"cnnkit {__version__} | {environment} | {os.cpu_count()} CPU cores | "
            f"{time.strftime('%Y-%m-%d %H:%M %Z')}"
        ),
        budget=(
            f"Fast-mode budget per notebook: {FAST_MAX_SECONDS:g} s and "
            f"{_mib(FAST_MAX_BYTES)} peak kernel memory."
        ),
        rows="\n".join(rows),
    )
    index = out_dir / "index.html"
    index.write_text(page, encoding="utf-8")
    return index


_INDEX = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>cnnkit course run</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; }}
th, td {{ padding: .35em .8em; border-bottom: 1px solid #ddd; text-align: left; }}
th, td:first-child {{ white-space: nowrap; }}
a.aside {{ font-size: 80%; color: #555; }}
td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
tr.passed td.status {{ color: #1a7f37; font-weight: bold; }}
tr.failed td.status {{ color: #cf222e; font-weight: bold; }}
tr.failed {{ background: #fff5f5; }}
p.env {{ color: #555; }}
</style></head><body>
<h1>cnnkit course run</h1>
<p><strong>{summary}</strong></p>
<p class="env">{env}</p>
<p class="env">{budget}</p>
<table>
<thead><tr><th>notebook</th><th>status</th><th>wall time</th><th>peak memory</th>
<th>key figure</th><th>problem</th><th>kernel</th></tr></thead>
<tbody>
{rows}
</tbody></table></body></html>
"""
