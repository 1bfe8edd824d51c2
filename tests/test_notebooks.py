"""Structure of every notebook in notebooks/: how it is stored, how it opens and ends.

nbval runs the notebooks themselves (see pyproject's addopts); these tests check what a run
cannot: no saved outputs, the standard opening (title, goals, prerequisites, Colab badge,
setup cell), at least one assert on what the notebook teaches, the closing sections, and a
row in the README's course table. They read JSON only, so they take milliseconds.
"""

import ast
import re
from pathlib import Path

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager

import cnnkit
from cnnkit import course

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
README = ROOT / "README.md"


def _read(path: Path):
    return nbformat.read(path, as_version=4)


def _python(source: str) -> ast.Module:
    """Parse a code cell as Python once IPython's magics (%pip, !cmd) are translated."""
    return ast.parse(TransformerManager().transform_cell(source))


def test_course_has_notebooks():
    assert NOTEBOOKS, "notebooks/ holds no notebook"


@pytest.fixture(params=NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def notebook(request):
    return request.param, _read(request.param)


def test_name_follows_course_pattern(notebook):
    path, _ = notebook
    assert re.fullmatch(r"\d{2}_[a-z0-9_]+\.ipynb", path.name), (
        f"{path.name}: name notebooks NN_lower_snake_case.ipynb so the course order is the "
        "file order"
    )


def test_stored_without_outputs(notebook):
    path, nb = notebook
    dirty = [
        i
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]
    assert not dirty, (
        f"{path.name}: cells {dirty} are saved with outputs or execution counts; clear them "
        "(jupyter nbconvert --clear-output --inplace)"
    )


def test_python3_kernel(notebook):
    path, nb = notebook
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", (
        f"{path.name}: kernelspec must be python3 so nbval, run-notebooks and Colab agree"
    )


def test_standard_opening(notebook):
    path, nb = notebook
    cells = nb.cells
    assert len(cells) > 5, f"{path.name}: fewer cells than the standard opening"
    title, goals, prereq, badge, setup = cells[:5]
    number = path.name[:2]
    assert title.cell_type == "markdown"
    assert re.fullmatch(rf"# {number} \S.*", title.source.strip()), (
        f"{path.name}: cell 1 must be the title '# {number} Title'. Received: {title.source!r}"
    )
    assert goals.cell_type == "markdown"
    assert len(re.findall(r"^\s*[-*] \S", goals.source, re.MULTILINE)) >= 2, (
        f"{path.name}: cell 2 must list the learning goals as bullets"
    )
    assert prereq.cell_type == "markdown"
    assert re.search(r"prerequisite", prereq.source, re.IGNORECASE), (
        f"{path.name}: cell 3 must name the prerequisites"
    )
    assert re.search(r"\d+\s*(min|minutes)\b", prereq.source), (
        f"{path.name}: cell 3 must give the estimated time in minutes"
    )
    assert badge.cell_type == "markdown"
    assert badge.source.strip() == course.colab_badge(path.name), (
        f"{path.name}: cell 4 must be exactly the Colab badge for {cnnkit.REPO_URL}"
    )
    assert setup.cell_type == "code"
    assert setup.source.strip() == course.setup_cell(), (
        f"{path.name}: cell 5 must be the setup cell of cnnkit.course.setup_cell(); "
        "`python -m cnnkit links` writes it"
    )


def test_code_cells_are_python(notebook):
    path, nb = notebook
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            try:
                _python(cell.source)
            except SyntaxError as exc:
                pytest.fail(f"{path.name}: cell {i} does not parse: {exc}")


def test_asserts_what_it_teaches(notebook):
    path, nb = notebook
    asserts = sum(
        isinstance(node, ast.Assert)
        for cell in nb.cells[5:]
        if cell.cell_type == "code"
        for node in ast.walk(_python(cell.source))
    )
    assert asserts >= 1, f"{path.name}: no assert after the setup cell checks what it teaches"


def test_standard_ending(notebook):
    path, nb = notebook
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    for needed, pattern in [
        ("a 'Check yourself' section", r"^#+ .*check yourself"),
        ("solutions folded in <details>", r"<details>"),
        ("a summary", r"^#+ .*(summary|key points)"),
        ("instructor notes", r"^#+ .*instructor notes"),
    ]:
        assert re.search(pattern, markdown, re.IGNORECASE | re.MULTILINE), (
            f"{path.name}: lacks {needed}"
        )


def _readme_table_rows() -> list[str]:
    return [line for line in README.read_text().splitlines() if line.lstrip().startswith("|")]


def test_listed_in_readme_course_table(notebook):
    path, _ = notebook
    rows = [row for row in _readme_table_rows() if f"notebooks/{path.name}" in row]
    assert rows, f"{path.name} is missing from the README's course table"


def test_readme_course_links_exist():
    linked = set(re.findall(r"\]\((?:\./)?notebooks/([^)#?]+\.ipynb)\)", README.read_text()))
    missing = sorted(name for name in linked if not (ROOT / "notebooks" / name).exists())
    assert not missing, f"the README links notebooks that do not exist: {missing}"


def test_readme_launch_buttons_use_configured_repo():
    text = README.read_text()
    assert course.binder_badge() in text, "the README must carry the Binder launch button"
    hosts = r"(?:mybinder\.org/v2/gh|colab\.research\.google\.com/github)"
    for url in re.findall(rf"https://{hosts}/[^\s)\"']+", text):
        assert course._github_path() in url, (
            f"README link {url} does not point at cnnkit.REPO_URL ({cnnkit.REPO_URL})"
        )
