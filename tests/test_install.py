"""How the kit is installed: the Colab setup cell, the dependency ranges and pins, Binder's
runtime-only environment, `make lab` as root, and the JupyterLab defaults.

The oracles are pip's own version rules (`packaging`), Colab's published pip freeze
(.ci/colab/pip-freeze.txt), the versions installed in this environment, IPython's cell
transformer, make's dry run and JupyterLab's settings schemas. `make test-colab` installs the
kit on Colab's stack for real.
"""

import json
import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from IPython.core.inputtransformer2 import TransformerManager
from packaging.requirements import Requirement

from cnnkit import course

ROOT = Path(__file__).resolve().parents[1]


def _pyproject() -> dict:
    import tomllib

    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


PYPROJECT = _pyproject()
DEPENDENCIES = [Requirement(line) for line in PYPROJECT["dependencies"]]
DEV_TOOLS = {"pytest", "pytest-timeout", "playwright", "ruff", "nbval", "jax", "jupyterlab"}


def _name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirements(path: Path) -> list[str]:
    return [
        line.split("#")[0].strip()
        for line in path.read_text().splitlines()
        if line.split("#")[0].strip()
    ]


def _colab() -> dict[str, str]:
    pins = {}
    for line in _requirements(ROOT / ".ci" / "colab" / "pip-freeze.txt"):
        name, version = line.split("==")
        pins[_name(name)] = version
    return pins


class _Shell:
    """Records what a cell asks IPython to run (shell commands and line magics)."""

    def __init__(self):
        self.calls = []

    def system(self, command):
        self.calls.append(command)

    def run_line_magic(self, magic, line):
        self.calls.append(f"{magic} {line}")


def _run_install_part(monkeypatch, colab: bool) -> list[str]:
    """Execute the setup cell up to ``import cnnkit``, as IPython would, in or out of Colab."""
    source = course.setup_cell().split("\nimport cnnkit")[0]
    python = TransformerManager().transform_cell(source)
    shell = _Shell()
    if colab:
        monkeypatch.setitem(sys.modules, "google.colab", type(sys)("google.colab"))
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    exec(compile(python, "setup-cell", "exec"), {"get_ipython": lambda: shell})
    return shell.calls


def test_setup_cell_installs_only_in_colab(monkeypatch):
    assert _run_install_part(monkeypatch, colab=False) == []
    listing, install = course.colab_commands()
    assert _run_install_part(monkeypatch, colab=True) == [listing, f"pip {install[4:]}"]
    assert course.setup_cell().endswith("\nimport cnnkit\n\ncnnkit.setup()")


def test_colab_install_keeps_every_installed_package():
    listing, install = course.colab_commands()
    # Every installed distribution becomes a constraint, except the kit (a rerun reinstalls it).
    assert listing == (f"pip list --format=freeze | grep -v '^cnnkit==' > {course.COLAB_PACKAGES}")
    assert install == f'pip install -q -c {course.COLAB_PACKAGES} "{course.install_line()}"'
    for replacing in ("--upgrade", "-U ", "--force-reinstall", "--ignore-installed", "-I "):
        assert replacing not in install
    assert course.colab_commands(".")[1].endswith(' "."')


def test_pyproject_ranges_hold_colab_and_ci_versions():
    colab = _colab()
    for req in DEPENDENCIES:
        name = _name(req.name)
        installed = metadata.version(req.name)
        assert req.specifier.contains(installed, prereleases=True), (
            f"CI's {name} {installed} is outside pyproject's range {req}"
        )
        if name in colab:
            assert req.specifier.contains(colab[name], prereleases=True), (
                f"Colab's {name} {colab[name]} is outside pyproject's range {req}: the setup "
                "cell could not install the kit without replacing it"
            )
    for name, version in [("tensorflow", "2.20.0"), ("keras", "3.13.2"), ("numpy", "2.1.3")]:
        assert colab[name] == version


def test_requires_python_is_what_is_tested():
    from packaging.specifiers import SpecifierSet

    supported = SpecifierSet(PYPROJECT["requires-python"])
    assert all(v in supported for v in ("3.11.7", "3.13.0"))  # CI and the Colab-stack job
    assert "3.10.13" not in supported  # Keras 3.15 needs 3.11
    assert "3.14.0" not in supported  # TensorFlow 2.21 has no wheel for it
    readme = (ROOT / "README.md").read_text()
    assert "Python 3.11 to 3.13" in readme and "3.10 or newer" not in readme


def test_runtime_pins_match_pyproject_and_leave_out_dev_tools():
    runtime = {
        _name(Requirement(line).name): Requirement(line)
        for line in _requirements(ROOT / "requirements-runtime.txt")
    }
    declared = {_name(req.name): req for req in DEPENDENCIES}
    assert set(runtime) == set(declared), (
        "requirements-runtime.txt must pin exactly pyproject's dependencies; "
        f"only pinned: {sorted(set(runtime) - set(declared))}, "
        f"only declared: {sorted(set(declared) - set(runtime))}"
    )
    for name, pin in runtime.items():
        lowest = re.search(r">=\s*([\w.]+)", str(pin.specifier))
        assert lowest and declared[name].specifier.contains(lowest[1], prereleases=True), (
            f"{name}: the CI pin {pin} starts outside pyproject's range {declared[name]}"
        )
    assert not set(runtime) & DEV_TOOLS
    full = _requirements(ROOT / "requirements.txt")
    assert "-r requirements-runtime.txt" in full
    listed = {_name(Requirement(line).name) for line in full if not line.startswith("-")}
    assert not listed & set(declared), (
        f"requirements.txt pins runtime packages {sorted(listed & set(declared))} again: "
        "runtime packages go into requirements-runtime.txt (what Binder installs)"
    )


def test_binder_installs_the_runtime_only():
    assert _requirements(ROOT / "binder" / "requirements.txt") == ["-r ../requirements-runtime.txt"]
    post_build = ROOT / "binder" / "postBuild"
    assert os.access(post_build, os.X_OK)
    text = post_build.read_text()
    assert "pip install --no-cache-dir --no-deps -e ." in text
    assert "cp jupyterlab/overrides.json" in text


def _make_lab_line(env: dict | None = None) -> str:
    run = subprocess.run(
        ["make", "-n", "lab"], cwd=ROOT, capture_output=True, text=True, env=env, check=True
    )
    (line,) = [ln for ln in run.stdout.splitlines() if re.search(r"bin/jupyter lab\b", ln)]
    return line


def test_make_lab_allows_root_only_for_root(tmp_path):
    as_root = os.getuid() == 0
    assert ("--allow-root" in _make_lab_line()) == as_root
    fake = tmp_path / "id"
    fake.write_text(f"#!/bin/sh\necho {1000 if as_root else 0}\n")
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    assert ("--allow-root" in _make_lab_line(env)) != as_root
    assert _make_lab_line().endswith(" notebooks/")


def test_jupyterlab_overrides_turn_off_news_and_update_checks():
    # jupyterlab.labapp, not jupyterlab: the repository's own jupyterlab/ folder (the
    # overrides) imports as a namespace package wherever the tests run from the checkout
    pytest.importorskip("jupyterlab.labapp", reason="no JupyterLab here (Colab's stack has none)")
    overrides = json.loads((ROOT / "jupyterlab" / "overrides.json").read_text())
    schemas = Path(sys.prefix) / "share" / "jupyter" / "lab" / "schemas"
    if not schemas.is_dir():
        pytest.fail(f"JupyterLab's settings schemas are not installed in {schemas}")
    for plugin, settings in overrides.items():
        package, name = plugin.split(":")
        schema = json.loads((schemas / package / f"{name}.json").read_text())
        for key, value in settings.items():
            prop = schema["properties"][key]
            allowed = [c["const"] for c in prop.get("oneOf", [])] or [True, False]
            assert value in allowed, f"{plugin} {key}={value!r}; allowed: {allowed}"
    notification = overrides["@jupyterlab/apputils-extension:notification"]
    assert notification == {"fetchNews": "false", "checkForUpdates": False}


def test_compare_flags_a_changed_colab_package(tmp_path):
    freeze = tmp_path / "freeze.txt"
    freeze.write_text("# header\nkeras==3.13.2\nnumpy==2.1.3\n")
    report = tmp_path / "report.json"
    compare = [sys.executable, str(ROOT / ".ci" / "colab" / "compare.py"), str(freeze)]

    def run(install):
        items = [{"metadata": {"name": n, "version": v}} for n, v in install]
        report.write_text(json.dumps({"install": items}))
        return subprocess.run([*compare, str(report)], capture_output=True, text=True)

    kept = run([("cnnkit", "0.1.0"), ("Keras", "3.13.2")])
    assert kept.returncode == 0 and "added    cnnkit 0.1.0" in kept.stdout
    changed = run([("cnnkit", "0.1.0"), ("keras", "3.15.1")])
    assert changed.returncode == 1 and "CHANGED  keras 3.13.2 -> 3.15.1" in changed.stdout
    listing = subprocess.run(
        [*compare, "-"], input="numpy==2.4.6\npytest==8.4.2\n", capture_output=True, text=True
    )
    assert listing.returncode == 1 and "CHANGED  numpy 2.1.3 -> 2.4.6" in listing.stdout
