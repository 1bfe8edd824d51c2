"""End to end in a real browser: JupyterLab on localhost, driven by Chromium through Playwright.

Opens notebooks/03_convolution_by_hand.ipynb, runs all cells, waits for the kernel to be
idle, checks that no cell shows an error, moves a slider of the convolution explorer and
checks that the explorer's output changed, and saves build/browser-03.png (the window) and
build/browser-03-explorer.png (the explorer's cell).

Needs Debian's ``chromium`` (``apt-get install -y chromium``; ``.ci/run`` installs it) or
``CNNKIT_CHROMIUM=/path/to/chrome``. Without a browser the test is skipped on a laptop and
fails in CI (``CI`` set), where it must run.
"""

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "03_convolution_by_hand.ipynb"
SCREENSHOTS = ROOT / "build"
CHROMIUM = os.environ.get("CNNKIT_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
RUN_TIMEOUT_S = 120

# No news feed, no update check: the test runs offline and a toast could cover a slider.
_NOTIFICATION_SETTINGS = '{"fetchNews": "false", "checkForUpdates": false}'

# The state of the notebook as the JupyterLab app sees it (window.jupyterapp, exposed by
# --expose-app-in-browser): kernel status, execution counts and error outputs per code cell.
_STATE_JS = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  if (!panel || !panel.sessionContext || !panel.sessionContext.session) return null;
  const kernel = panel.sessionContext.session.kernel;
  const cells = [];
  const list = panel.content.model.cells;
  for (let i = 0; i < list.length; i++) {
    const cell = list.get(i);
    if (cell.type !== 'code') continue;
    const errors = [];
    for (let j = 0; j < cell.outputs.length; j++) {
      const out = cell.outputs.get(j).toJSON();
      if (out.output_type === 'error') errors.push(out.ename + ': ' + out.evalue);
    }
    cells.push({index: i, count: cell.executionCount, errors: errors});
  }
  return {status: kernel ? kernel.status : 'none', cells: cells};
}"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, server: subprocess.Popen, log: Path, deadline: float) -> None:
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"JupyterLab exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"JupyterLab did not answer at {url}")


@pytest.fixture
def jupyterlab(tmp_path):
    """A JupyterLab server on 127.0.0.1 with a random token, serving a copy of the notebook."""
    root = tmp_path / "lab"
    root.mkdir()
    shutil.copy(NOTEBOOK, root / NOTEBOOK.name)
    settings = tmp_path / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(_NOTIFICATION_SETTINGS)
    port, token = _free_port(), secrets.token_hex(16)
    # A learner's kernel: matplotlib's inline backend, not the suite's Agg (under Agg a
    # displayed Figure shows as its text repr, "<Figure size ...>", instead of an image).
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    env.update(
        JUPYTERLAB_SETTINGS_DIR=str(tmp_path / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "workspaces"),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
    )
    log = tmp_path / "jupyterlab.log"
    log_file = log.open("w")
    # Containers and CI boxes often run as root, which JupyterLab refuses without this flag.
    root_flag = ["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={port}",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
            "--expose-app-in-browser",
            "--LabApp.news_url=",
            *root_flag,
        ],
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    try:
        status = f"http://127.0.0.1:{port}/api/status?token={token}"
        _wait_http(status, server, log, time.monotonic() + 60)
        yield f"http://127.0.0.1:{port}/lab/tree/{NOTEBOOK.name}?token={token}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        log_file.close()


# The figures the explorer cell shows (PNG data URLs of its output images): moving a slider
# must redraw them.
_IMAGES_JS = """(i) => Array.from(
  window.jupyterapp.shell.currentWidget.content.widgets[i].node.querySelectorAll(
    '.jp-OutputArea-output img')).map((img) => img.src)"""

_EXPLORER_CELL_JS = """() => {
  const list = window.jupyterapp.shell.currentWidget.content.model.cells;
  for (let i = 0; i < list.length; i++) {
    if (list.get(i).sharedModel.getSource().includes('conv_explorer(')) return i;
  }
  return -1;
}"""


def test_notebook_03_runs_in_chromium(jupyterlab):
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"Chromium is missing at {CHROMIUM}: apt-get install -y chromium")
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")
    start = time.monotonic()
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        try:
            page.goto(jupyterlab)
            page.wait_for_function(
                "() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
                " && window.jupyterapp.shell.currentWidget.sessionContext?.session?.kernel"
                "?.status === 'idle'",
                timeout=90_000,
            )
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
            page.wait_for_function(
                f"""() => {{
                  const s = ({_STATE_JS})();
                  // Done: every cell ran, or one failed (run-all stops there).
                  return s && s.status === 'idle' && (s.cells.every((c) => c.count !== null)
                    || s.cells.some((c) => c.errors.length > 0));
                }}""",
                timeout=RUN_TIMEOUT_S * 1000,
                polling=500,
            )
            state = page.evaluate(_STATE_JS)
            errors = [(c["index"], c["errors"]) for c in state["cells"] if c["errors"]]
            assert not errors, f"cells with errors: {errors}"

            cell = page.evaluate(_EXPLORER_CELL_JS)
            assert cell >= 0, f"{NOTEBOOK.name} has no cell calling conv_explorer()"
            node = page.locator(".jp-Notebook .jp-Cell").nth(cell)
            node.scroll_into_view_if_needed()
            slider = node.locator(".widget-slider .noUi-handle, .widget-slider input").first
            slider.wait_for(state="visible", timeout=30_000)
            page.wait_for_function(f"(i) => ({_IMAGES_JS})(i).length > 0", arg=cell)
            before = page.evaluate(_IMAGES_JS, cell)
            slider.focus()
            page.keyboard.press("ArrowRight")
            page.wait_for_function(
                f"([i, before]) => {{ const now = ({_IMAGES_JS})(i);"
                " return now.length > 0 && now.join() !== before.join(); }",
                arg=[cell, before],
                timeout=30_000,
            )
            state = page.evaluate(_STATE_JS)
            assert not any(c["errors"] for c in state["cells"]), "moving the slider raised"
            SCREENSHOTS.mkdir(exist_ok=True)
            node.screenshot(path=str(SCREENSHOTS / "browser-03-explorer.png"))
            page.screenshot(path=str(SCREENSHOTS / "browser-03.png"))
        except Exception:
            SCREENSHOTS.mkdir(exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / "browser-03-failure.png"))
            raise
        finally:
            browser.close()
    assert time.monotonic() - start < 180
