"""cnnkit.website: the static course site (`make site`), built from executed notebooks.

Checked against the file system (every local link and image resolves), an HTML parser (the
figures are data URIs), and one real run: a notebook executed by nbclient whose matplotlib
figure must reach its page.
"""

import base64
import io
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import nbformat
import pytest

import cnnkit
from cnnkit import website

README = """# demo

## The course

| # | notebook | what it teaches |
| --- | --- | --- |
| 00 | [00_setup.ipynb](notebooks/00_setup.ipynb) | the environment |
| 01 | [01_tensors.ipynb](notebooks/01_tensors.ipynb) | tensors |

## Data
"""


def _png() -> str:
    fig, ax = plt.subplots(figsize=(1, 1))
    ax.plot([0, 1], [1, 0])
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def _executed(path: Path, number: str, *, figure: bool) -> Path:
    outputs = [
        nbformat.v4.new_output("display_data", data={"image/png": _png(), "text/plain": "fig"})
    ]
    cells = [
        nbformat.v4.new_markdown_cell(
            f"# {number} Title {number}\n\nSee the [instructor page]"
            f"(../docs/instructor/{path.stem}.md#timings), the [README](../README.md) and "
            "[the viz module](../cnnkit/viz.py)."
        ),
        nbformat.v4.new_code_cell("plot()", outputs=outputs if figure else [], execution_count=1),
    ]
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)
    return path


@pytest.fixture
def repo(tmp_path):
    (tmp_path / "README.md").write_text(README)
    guide = tmp_path / "docs" / "instructor"
    guide.mkdir(parents=True)
    (guide / "README.md").write_text("# Instructor guide\n\n- [setup](00_setup.md)\n")
    (guide / "00_setup.md").write_text(
        "# 00 setup: instructor notes\n\n## Timings\n\n| mode | s |\n| --- | --- |\n"
        "| fast | 12 |\n\nThe [notebook](../../notebooks/00_setup.ipynb).\n"
    )
    run = tmp_path / "run"
    run.mkdir()
    executed = [
        _executed(run / "00_setup.ipynb", "00", figure=True),
        _executed(run / "01_tensors.ipynb", "01", figure=False),
    ]
    return tmp_path, executed


def test_site_pages_link_to_each_other_and_embed_figures(repo):
    root, executed = repo
    site = root / "site"
    index = website.build_site(executed, site, root=root)
    assert index == site / "index.html"
    assert website.check_site(site) == []
    assert sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html")) == [
        "00_setup.html",
        "01_tensors.html",
        "index.html",
        "instructor/00_setup.html",
        "instructor/index.html",
    ]
    page = (site / "00_setup.html").read_text()
    assert re.search(r'<img[^>]+src="data:image/png;base64,', page)
    assert 'href="instructor/00_setup.html#timings"' in page
    assert 'href="index.html"' in page and 'href="01_tensors.html"' in page
    assert f'href="{cnnkit.REPO_URL}/blob/main/cnnkit/viz.py"' in page
    notes = (site / "instructor" / "00_setup.html").read_text()
    assert "<table>" in notes and 'href="../00_setup.html"' in notes
    home = index.read_text()
    assert '<a href="00_setup.html">00_setup.ipynb</a>' in home
    assert '<a href="instructor/index.html">instructor guide</a>' in home
    assert "## Data" not in home and "the environment" in home
    website.build_site(executed[:1], site, root=root)  # a rebuild drops pages no longer built
    assert not (site / "01_tensors.html").exists()
    assert website.check_site(site) == []


def test_check_site_finds_broken_links_and_file_images(repo):
    root, executed = repo
    site = root / "site"
    website.build_site(executed, site, root=root)
    (site / "01_tensors.html").unlink()
    page = site / "00_setup.html"
    page.write_text(page.read_text().replace("</body>", '<img src="figure.png"></body>'))
    assert website.check_site(site) == [
        "00_setup.html: link 01_tensors.html points at no file",
        "00_setup.html: image figure.png is a file, not embedded",
        "00_setup.html: link figure.png points at no file",
        "index.html: link 01_tensors.html points at no file",
    ]


def test_site_without_instructor_guide_links_no_guide(repo):
    root, executed = repo
    for path in (root / "docs" / "instructor").iterdir():
        path.unlink()
    site = root / "site"
    website.build_site(executed[:1], site, root=root)
    assert website.check_site(site) == []
    page = (site / "00_setup.html").read_text()
    assert 'href="instructor/' not in page
    assert f"{cnnkit.REPO_URL}/blob/main/docs/instructor/00_setup.md#timings" in page


def test_website_command_executes_and_builds(tmp_path, capsys):
    books = tmp_path / "notebooks"
    books.mkdir()
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell("# 00 Plot"),
            nbformat.v4.new_code_cell(
                "import matplotlib.pyplot as plt\nplt.plot([0, 1], [0, 1])\nplt.show()"
            ),
        ],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}},
    )
    nbformat.write(nb, books / "00_plot.ipynb")
    (tmp_path / "README.md").write_text(README)
    site = tmp_path / "site"
    args = ["--notebooks", str(books), "--root", str(tmp_path), "--out", str(site)]
    assert website.main(args) == 0, capsys.readouterr()
    page = (site / "00_plot.html").read_text()
    assert re.search(r'<img[^>]+src="data:image/png;base64,', page)
    home = (site / "index.html").read_text()
    assert "1 of 1 ran without error" in home and 'href="run/index.html"' in home
    report = (site / "run" / "index.html").read_text()
    assert 'href="../00_plot.html"' in report and not (site / "run" / "00_plot.html").exists()
    assert website.check_site(site) == []
    assert website.main([*args, "--only", "07"]) == 2
