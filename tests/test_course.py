"""cnnkit.course and the command line: launch links, notebook selection, key figures, memory
sampling, the headless course run with its index, and the nbval budget hook."""

import json
import os
import re
import subprocess
import sys
import types
from pathlib import Path

import nbformat
import pytest

import cnnkit
from cnnkit import course
from cnnkit.__main__ import main

ROOT = Path(__file__).resolve().parents[1]


def _notebook(path: Path, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(s) for s in sources],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}},
    )
    nbformat.write(nb, path)
    return path


def test_colab_badge_is_the_course_badge():
    assert course.colab_badge("03_convolution_by_hand.ipynb") == (
        "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
        "(https://colab.research.google.com/github/cnnkit/cnnkit/blob/main/notebooks/"
        "03_convolution_by_hand.ipynb)"
    )
    assert course.install_line() == "cnnkit @ git+https://github.com/cnnkit/cnnkit"


def test_links_follow_repo_url(monkeypatch):
    monkeypatch.setattr(cnnkit, "REPO_URL", "https://github.com/someone/fork/")
    assert course.colab_url("04_lenet_mnist.ipynb") == (
        "https://colab.research.google.com/github/someone/fork/blob/main/notebooks/"
        "04_lenet_mnist.ipynb"
    )
    assert course.binder_url() == (
        "https://mybinder.org/v2/gh/someone/fork/main?urlpath=lab%2Ftree%2Fnotebooks"
    )
    assert course.binder_url("00_setup.ipynb").endswith("lab%2Ftree%2Fnotebooks%2F00_setup.ipynb")
    assert course.binder_badge() == (
        f"[![Binder](https://mybinder.org/badge_logo.svg)]({course.binder_url()})"
    )
    assert course.install_line() == "cnnkit @ git+https://github.com/someone/fork"


def test_repo_url_must_be_github(monkeypatch):
    monkeypatch.setattr(cnnkit, "REPO_URL", "https://gitlab.com/a/b")
    with pytest.raises(ValueError, match=r"must be a GitHub repository URL.*Received: REPO_URL="):
        course.colab_url("00_setup.ipynb")


def test_links_command_repoints_a_fork(tmp_path, monkeypatch):
    books = tmp_path / "notebooks"
    books.mkdir()
    name = "00_setup.ipynb"
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell(course.colab_badge(name)),
            # The setup cell as notebooks had it before: `links` rewrites the whole cell.
            nbformat.v4.new_code_cell(
                'import sys\n\nif "google.colab" in sys.modules:\n'
                f'    %pip install -q "{course.install_line()}"\n\nimport cnnkit\n\ncnnkit.setup()'
            ),
            nbformat.v4.new_code_cell("cnnkit.setup()  # a later cell stays as it is"),
        ]
    )
    nbformat.write(nb, books / name)
    readme = tmp_path / "README.md"
    readme.write_text(f"{course.binder_badge()}\nSee https://github.com/keras-team/keras.\n")
    monkeypatch.setattr(cnnkit, "REPO_URL", "https://github.com/someone/fork")
    args = ["links", "--notebooks", str(books), "--readme", str(readme)]
    assert main([*args, "--check"]) == 1
    assert nbformat.read(books / name, as_version=4) == nb  # --check writes nothing
    assert main(args) == 0
    fixed = nbformat.read(books / name, as_version=4)
    assert fixed.cells[0].source == course.colab_badge(name)
    assert fixed.cells[1].source == course.setup_cell()
    assert '"cnnkit @ git+https://github.com/someone/fork"' in fixed.cells[1].source
    assert fixed.cells[2].source == nb.cells[2].source
    assert readme.read_text() == (
        f"{course.binder_badge()}\nSee https://github.com/keras-team/keras.\n"
    )
    assert main([*args, "--check"]) == 0


def test_find_and_select(tmp_path):
    for name in ("04_lenet_mnist.ipynb", "00_setup.ipynb", "scratch.ipynb", "06_minivgg.ipynb"):
        (tmp_path / name).write_text("{}")
    found = course.find_notebooks(tmp_path)
    assert [p.name for p in found] == ["00_setup.ipynb", "04_lenet_mnist.ipynb", "06_minivgg.ipynb"]
    assert [p.name for p in course.select(found, "04,6")] == [
        "04_lenet_mnist.ipynb",
        "06_minivgg.ipynb",
    ]
    assert course.select(found, None) == found
    with pytest.raises(ValueError, match=r"available: 00, 04, 06\. Received: only='05'"):
        course.select(found, "05")
    with pytest.raises(ValueError, match="must be a folder of notebooks"):
        course.find_notebooks(tmp_path / "missing")


def test_key_figure_prefers_the_last_test_figure():
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell(
                outputs=[nbformat.v4.new_output("stream", name="stdout", text=text)]
            )
            for text in (
                "test accuracy: 0.41\n",
                "epoch 2: val accuracy = 0.88\n",
                "trained in 11 s; final validation accuracy 0.767\n"
                "loss 1.8 -> 0.2; validation accuracy 0.767 -> 0.933\n",
                "Test accuracy: 0.912 (digits stand-in)\n",
                "validation accuracy: 0.95\n",
            )
        ]
    )
    assert course.key_figure(nb) == "Test accuracy: 0.912"
    nb.cells = nb.cells[1:3]
    assert course.key_figure(nb) == "validation accuracy: 0.933"
    nb.cells = nb.cells[:1]
    nb.cells[0].outputs[0].text = "mAP@0.5: 43.5%\n"
    assert course.key_figure(nb) == "mAP@0.5: 43.5%"
    nb.cells[0].outputs[
        0
    ].text = "accuracy 99% after 5 epochs; test accuracy v2\nmAP@0.5 before training: 0.000\n"
    assert course.key_figure(nb) is None


def test_over_budget():
    assert course.over_budget(89.0, 2 * 1024**3) == []
    assert course.over_budget(91.0, 2 * 1024**3 + 1) == [
        "wall time 91.0 s is over the 90 s budget",
        "peak memory 2,048 MiB is over the 2,048 MiB budget",
    ]


def test_peak_memory_sees_a_child_allocation():
    # The oracle: a child process that holds 300 MiB of touched memory for a moment.
    child = "b = bytearray(300 * 2**20); import time; time.sleep(1.5)"
    spawn = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {child!r}])"
    parent = subprocess.Popen([sys.executable, "-c", spawn])
    try:
        with course.PeakMemory(parent.pid, interval=0.05) as peak:
            parent.wait(timeout=30)
    finally:
        parent.kill()
    assert 300 * 2**20 <= peak.bytes < 600 * 2**20


def test_run_notebooks_reports_failures_and_keeps_going(tmp_path, capsys):
    books = tmp_path / "notebooks"
    books.mkdir()
    _notebook(books / "01_broken.ipynb", "x = 1", "zero = 0\nx / zero", "y = 2")
    _notebook(
        books / "02_fine.ipynb",
        "import os\nassert os.environ['CNNKIT_FAST'] == '1'",
        "print('cnnkit: Keras 3 on tensorflow | devices: CPU | offline | mode: fast | seed 42')",
        "print('test accuracy: 0.875')",
    )
    (books / "03_skipped.ipynb").write_text("not json")
    out = tmp_path / "course"
    code = main(["run-notebooks", "--notebooks", str(books), "--out", str(out), "--only", "1,2"])
    printed = capsys.readouterr().out
    assert code == 1
    assert "code cell 1: ZeroDivisionError: division by zero at `x / zero`" in printed
    assert "test accuracy: 0.875" in printed

    broken = nbformat.read(out / "01_broken.ipynb", as_version=4)
    assert broken.cells[0].execution_count == 1
    assert broken.cells[1].outputs[0].ename == "ZeroDivisionError"
    fine = nbformat.read(out / "02_fine.ipynb", as_version=4)
    assert [c.execution_count for c in fine.cells] == [1, 2, 3]

    page = (out / "index.html").read_text()
    assert "1 of 2 notebooks passed" in page
    assert "(fast mode)" in page
    assert '<a href="01_broken.html">01_broken.ipynb</a>' in page
    assert '<a class="aside" href="02_fine.ipynb">ipynb</a>' in page
    assert "code cell 1: ZeroDivisionError: division by zero at `x / zero`" in page
    assert '<a href="01_broken.kernel.log">log</a>' in page
    assert "ZeroDivisionError" in (out / "01_broken.html").read_text()
    assert "test accuracy: 0.875" in page
    assert "03_skipped" not in page


def test_run_notebook_result_fields(tmp_path):
    path = _notebook(
        tmp_path / "05_x.ipynb",
        "b = bytearray(150 * 2**20)\nprint('ok')",
        "import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.plot([0, 1])\nfig",
    )
    result = course.run_notebook(path, tmp_path / "out", progress=False)
    # Figures come out as images, as in a learner's JupyterLab, although this suite sets Agg.
    executed = nbformat.read(tmp_path / "out" / "05_x.ipynb", as_version=4)
    assert any("image/png" in o.get("data", {}) for o in executed.cells[1].outputs)
    assert result.ok and result.status == "passed"
    assert result.cells == 2 and result.failed_cell is None and result.error is None
    assert result.peak_bytes > 150 * 2**20
    assert 0 < result.seconds < course.FAST_MAX_SECONDS


def test_run_notebook_wakes_a_stalled_kernel_and_says_so(tmp_path, monkeypatch):
    # A cell whose kernel sits without CPU time (here: asleep) past STALL_SECONDS is woken,
    # finishes, and the result, the index and the command line report the stall.
    monkeypatch.setattr(course, "STALL_SECONDS", 1.0)
    path = _notebook(tmp_path / "05_x.ipynb", "import time\ntime.sleep(3.5)", "print('done')")
    result = course.run_notebook(path, tmp_path / "out", progress=False)
    assert result.ok and result.wakeups and all(w >= 1.0 for w in result.wakeups)
    assert result.stall_note.startswith("kernel stalled ") and "and was woken" in result.stall_note
    course.write_index([result], tmp_path / "out")
    assert result.stall_note in (tmp_path / "out" / "index.html").read_text()
    quiet = course.run_notebook(_notebook(tmp_path / "06_y.ipynb", "x = 1"), tmp_path / "out")
    assert quiet.wakeups == [] and quiet.stall_note is None


def test_cli_dispatches_bench_and_prefetch(monkeypatch):
    seen = {}

    def fake_bench(argv):
        seen["bench"] = argv
        return 0

    bench = types.ModuleType("cnnkit.bench")
    bench.main = fake_bench
    monkeypatch.setitem(sys.modules, "cnnkit.bench", bench)
    assert main(["bench", "--quick", "--help"]) == 0
    assert seen["bench"] == ["--quick", "--help"]

    def fake_prefetch(names, *, weights=True):
        seen["prefetch"] = (names, weights)
        return [{"name": "mnist", "status": "failed"}]

    monkeypatch.setattr(cnnkit.data, "prefetch", fake_prefetch)
    assert main(["prefetch", "mnist", "--no-weights"]) == 1
    assert seen["prefetch"] == (["mnist"], False)
    with pytest.raises(SystemExit):
        main(["doctor", "--bogus"])


def test_cli_doctor(capsys):
    assert main(["doctor"]) == 0
    lines = capsys.readouterr().out.splitlines()
    facts = dict(line.split(None, 1) for line in lines)
    assert facts["keras"] == __import__("keras").__version__
    assert facts["mode"] == "fast"
    assert facts["devices"].startswith("CPU")


def test_nbval_budget_hook_fails_a_slow_notebook(tmp_path):
    """The root conftest's hook under nbval, on a notebook given a 1 s budget."""
    (tmp_path / "conftest.py").write_text(
        (ROOT / "conftest.py").read_text()
        + "\nimport cnnkit.course\n\ncnnkit.course.FAST_MAX_SECONDS = 1.0\n"
    )
    _notebook(tmp_path / "01_slow.ipynb", "import time\ntime.sleep(1.5)", "x = 1")
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--nbval-lax", "01_slow.ipynb"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1, run.stdout
    assert "1 failed, 1 passed" in run.stdout
    assert "01_slow.ipynb::Cell 0" in run.stdout
    assert "01_slow.ipynb: wall time" in run.stdout and "over the 1 s budget" in run.stdout
    assert "notebook budget (fast mode: 1 s, 2 GiB per notebook)" in run.stdout
    assert "OVER  01_slow.ipynb" in run.stdout
    record = json.loads((tmp_path / "build" / "notebook-budget.json").read_text())
    assert record["01_slow.ipynb"]["seconds"] > 1.5
    assert 20 < record["01_slow.ipynb"]["peak_mib"] < 2048


def test_binder_builds_the_pinned_runtime():
    # repo2docker reads binder/ only: its requirements must be the root's pinned runtime set
    # (tests/test_install.py checks what that holds), and postBuild must install the kit itself
    # (checked with `repo2docker --no-build`, see README).
    lines = [
        line.strip()
        for line in (ROOT / "binder" / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines == ["-r ../requirements-runtime.txt"]
    runtime = (ROOT / "binder" / "runtime.txt").read_text().strip()
    assert re.fullmatch(r"python-3\.(1[1-3])", runtime), runtime
    post_build = ROOT / "binder" / "postBuild"
    assert os.access(post_build, os.X_OK)
    assert "pip install --no-cache-dir --no-deps -e ." in post_build.read_text()
