"""The course as a static site: the notebooks executed, with their figures, an index page with
the course table, and the instructor guide, joined by a navigation bar.

    python -m cnnkit.website                            # execute in fast mode, write build/site/
    python -m cnnkit.website --full                     # the full recipes (CPU or GPU budget)
    python -m cnnkit.website --executed build/course    # pages from notebooks run before

``make site`` runs the first (``FULL=1`` the second). Notebook pages are nbconvert's HTML with
every figure embedded as a data URI, so ``build/site/`` can be copied anywhere or opened from
disk. Links between the course's files (a notebook's link to its instructor page, the guide's
links to notebooks, the README) point at the matching pages; links to other files in the
repository point at them on GitHub (``cnnkit.REPO_URL``).
"""

from __future__ import annotations

import argparse
import html
import os
import posixpath
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

from .course import NotebookResult, find_notebooks, run_course, select

__all__ = ["build_site", "check_site", "main"]

_NOTEBOOK = re.compile(r"^\d{2}_[a-z0-9_]+$")
_HREF = re.compile(r'(\b(?:href|src)=")([^"]*)(")')
_EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|#|//)", re.IGNORECASE)

_STYLE = """
nav.cnnkit { font: 15px/1.4 system-ui, sans-serif; background: #1f2a44; color: #fff;
  padding: .6em 1.2em; display: flex; gap: 1.2em; flex-wrap: wrap; align-items: baseline; }
nav.cnnkit a { color: #cfe0ff; text-decoration: none; }
nav.cnnkit a:hover { text-decoration: underline; }
nav.cnnkit .here { color: #fff; font-weight: 600; }
nav.cnnkit .push { margin-left: auto; }
"""

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{style}
main {{ font: 16px/1.55 system-ui, sans-serif; color: #222; max-width: 60em;
  margin: 1.5em auto; padding: 0 1.2em; }}
table {{ border-collapse: collapse; }}
th, td {{ padding: .35em .8em; border-bottom: 1px solid #ddd; text-align: left;
  vertical-align: top; }}
code, pre {{ background: #f4f4f4; border-radius: 3px; }}
pre {{ padding: .6em; overflow-x: auto; }}
p.build {{ color: #555; }}
</style></head><body>
{nav}
<main>
{body}
</main></body></html>
"""


def _markdown(text: str) -> str:
    import mistune

    render = mistune.create_markdown(
        escape=False, plugins=["table", "strikethrough", "url", "footnotes"]
    )
    return render(text)


def _site_path(repo_path: str) -> str | None:
    """The page of the site that shows a repository file, or None when the site has none."""
    stem, ext = posixpath.splitext(posixpath.basename(repo_path))
    folder = posixpath.dirname(repo_path)
    if repo_path == "README.md":
        return "index.html"
    if folder == "notebooks" and ext == ".ipynb" and _NOTEBOOK.match(stem):
        return f"{stem}.html"
    if folder == "docs/instructor" and ext == ".md":
        return "instructor/index.html" if stem == "README" else f"instructor/{stem}.html"
    return None


def _relink(page: str, source: str, target: str, pages: set[str]) -> str:
    """Point the relative links of ``page`` (rendered from the repository file ``source``) at
    the site's pages, as seen from the site page ``target``; others at GitHub."""
    from . import REPO_URL

    def fix(match: re.Match) -> str:
        url = html.unescape(match[2])
        if not url or _EXTERNAL.match(url):
            return match[0]
        path, hash_, fragment = url.partition("#")
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(source), path))
        if resolved.startswith("../"):
            return match[0]
        page_path = _site_path(resolved)
        if page_path in pages:
            new = posixpath.relpath(page_path, posixpath.dirname(target) or ".")
        else:
            new = f"{REPO_URL.rstrip('/')}/blob/main/{resolved}"
        return f"{match[1]}{html.escape(new + hash_ + fragment)}{match[3]}"

    return _HREF.sub(fix, page)


def _nav(target: str, left: list[tuple[str, str]], right: list[tuple[str, str]]) -> str:
    """A navigation bar of ``(label, site path)`` links as seen from the page ``target``:
    ``left`` (the index, the guide), then ``right`` (previous, next) at the far side."""
    here = posixpath.dirname(target) or "."
    links = []
    for i, (label, path) in enumerate([*left, *right]):
        classes = " ".join(
            name for name, on in (("here", path == target), ("push", i == len(left))) if on
        )
        attr = f' class="{classes}"' if classes else ""
        href = html.escape(posixpath.relpath(path, here))
        links.append(f'<a{attr} href="{href}">{html.escape(label)}</a>')
    return f'<nav class="cnnkit">{"".join(links)}</nav>'


def _notebook_title(nb) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            match = re.search(r"^#\s+(.+)$", cell.source, re.MULTILINE)
            if match:
                return match[1].strip()
    return "notebook"


def _markdown_title(text: str, fallback: str) -> str:
    match = re.search(r"^#\s+(.+)$", text, re.MULTILINE)
    return match[1].strip() if match else fallback


def _course_table(readme: str) -> str:
    """The README's "The course" section (its table of notebooks), as Markdown."""
    match = re.search(r"^## The course\s*$(.*?)(?=^## |\Z)", readme, re.MULTILINE | re.DOTALL)
    return match[1].strip() if match else ""


def build_site(
    executed: Sequence[str | os.PathLike],
    out_dir: str | os.PathLike = "build/site",
    *,
    root: str | os.PathLike = ".",
    results: Sequence[NotebookResult] | None = None,
    run_report: str | None = None,
) -> Path:
    """Write the static site into ``out_dir`` and return its ``index.html``.

    Args:
        executed: executed copies of the course notebooks (``NN_name.ipynb``, with outputs),
            in course order.
        out_dir: the site's folder; the pages of a previous build are replaced.
        root: the repository root, where ``README.md`` (the course table) and
            ``docs/instructor/*.md`` (the instructor guide, rendered as far as it exists) are.
        results: the runs that produced ``executed``, for the index's build line.
        run_report: a path inside ``out_dir`` of the run's own report, linked from the index.
    """
    import nbformat
    from nbconvert import HTMLExporter

    root = Path(root)
    out = Path(out_dir)
    (out / "instructor").mkdir(parents=True, exist_ok=True)
    for stale in [*out.glob("*.html"), *(out / "instructor").glob("*.html")]:
        stale.unlink()  # pages of a previous build that this one may not write again
    executed = [Path(p) for p in executed]
    guide_files = sorted((root / "docs" / "instructor").glob("*.md"))
    notebook_pages = [f"{p.stem}.html" for p in executed]
    guide_pages = [_site_path(f"docs/instructor/{p.name}") for p in guide_files]
    pages = {"index.html", *notebook_pages, *guide_pages}
    entries = [("cnnkit course", "index.html")]
    if guide_files:
        pages.add("instructor/index.html")
        entries.append(("instructor guide", "instructor/index.html"))

    exporter = HTMLExporter(template_name="lab", embed_images=True)
    for i, path in enumerate(executed):
        nb = nbformat.read(path, as_version=4)
        body, _ = exporter.from_notebook_node(nb)
        target = notebook_pages[i]
        extra = []
        if i > 0:
            extra.append((f"← {executed[i - 1].stem[:2]}", notebook_pages[i - 1]))
        if i + 1 < len(executed):
            extra.append((f"{executed[i + 1].stem[:2]} →", notebook_pages[i + 1]))
        guide = f"instructor/{path.stem}.html"
        local = [("instructor page", guide)] if guide in pages else []
        nav = _nav(target, [*entries, *local], extra)
        body = _relink(body, f"notebooks/{path.name}", target, pages)
        body = re.sub(
            r"(<body[^>]*>)",
            lambda m, nav=nav: f"{m[1]}\n<style>{_STYLE}</style>\n{nav}",
            body,
            count=1,
        )
        (out / target).write_text(body, encoding="utf-8")

    def page(target: str, source: str, title: str, markdown: str) -> None:
        body = _relink(_markdown(markdown), source, target, pages)
        stem = posixpath.splitext(posixpath.basename(target))[0]
        notebook = [("notebook", f"{stem}.html")] if f"{stem}.html" in pages else []
        text = _PAGE.format(
            title=html.escape(title),
            style=_STYLE,
            nav=_nav(target, [*entries, *notebook], []),
            body=body,
        )
        (out / target).write_text(text, encoding="utf-8")

    for path, target in zip(guide_files, guide_pages, strict=True):
        text = path.read_text(encoding="utf-8")
        source = f"docs/instructor/{path.name}"
        page(target, source, _markdown_title(text, path.stem), text)
    if guide_files and "instructor/index.html" not in guide_pages:
        listing = "\n".join(
            f"- [{_markdown_title(p.read_text(encoding='utf-8'), p.stem)}]({p.name})"
            for p in guide_files
        )
        page(
            "instructor/index.html",
            "docs/instructor/README.md",
            "Instructor guide",
            f"# Instructor guide\n\n{listing}\n",
        )

    readme = (root / "README.md").read_text(encoding="utf-8")
    titles = [_notebook_title(nbformat.read(p, as_version=4)) for p in executed]
    lines = [
        "# cnnkit: a course on convolutional neural networks",
        "",
        "Every notebook of the course, run top to bottom, with its outputs and figures.",
        "",
        _course_table(readme)
        or "\n".join(f"- [{t}](notebooks/{p.name})" for t, p in zip(titles, executed, strict=True)),
        "",
    ]
    if guide_files:
        lines += ["The [instructor guide](docs/instructor/README.md) has a page per notebook.", ""]
    index = _relink(_markdown("\n".join(lines)), "README.md", "index.html", pages)
    if results:
        failed = [r.name for r in results if _broke(r)]
        passed = len(results) - len(failed)
        modes = " and ".join(sorted({r.mode for r in results if r.mode})) or "fast"
        report = f' (<a href="{html.escape(run_report)}">run report</a>)' if run_report else ""
        index += (
            f'<p class="build">Built {time.strftime("%Y-%m-%d")} by running the notebooks in '
            f"{html.escape(modes)} mode: {passed} of {len(results)} ran without error"
            f"{': failed ' + html.escape(', '.join(failed)) if failed else ''}{report}.</p>"
        )
    text = _PAGE.format(
        title="cnnkit course", style=_STYLE, nav=_nav("index.html", entries, []), body=index
    )
    (out / "index.html").write_text(text, encoding="utf-8")
    return out / "index.html"


def _broke(result: NotebookResult) -> bool:
    """A cell failed or the kernel died; a notebook that only ran past the fast-mode time or
    memory budget (a busy machine) still gives a complete page."""
    return result.failed_cell is not None or (result.error is not None and not result.over_budget)


def _point_report_at_pages(run_dir: Path, stems: Sequence[str]) -> None:
    """The run report links the site's notebook pages instead of its own HTML copies, which
    are dropped (their links point into the repository, which the site does not hold)."""
    report = run_dir / "index.html"
    text = report.read_text(encoding="utf-8")
    for stem in stems:
        (run_dir / f"{stem}.html").unlink(missing_ok=True)
        text = text.replace(f'href="{quote(stem)}.html"', f'href="../{quote(stem)}.html"')
    report.write_text(text, encoding="utf-8")


def check_site(site_dir: str | os.PathLike) -> list[str]:
    """What is broken in a built site: local links or images that point at no file, and
    notebook figures that are not embedded (an ``<img>`` whose source is a local file).

    Returns:
        One line per problem, ``"<page>: <what>"``; empty when every link resolves.
    """
    site = Path(site_dir)
    problems = []
    for page in sorted(site.rglob("*.html")):
        name = page.relative_to(site).as_posix()
        for tag, url in _links(page.read_text(encoding="utf-8")):
            if not url or _EXTERNAL.match(url):
                continue
            if tag == "img":
                problems.append(f"{name}: image {url} is a file, not embedded")
            path = url.partition("#")[0].partition("?")[0]
            if path and not (page.parent / path).exists():
                problems.append(f"{name}: link {url} points at no file")
    return problems


def _links(page: str) -> list[tuple[str, str]]:
    """``(tag, url)`` of every ``href`` and ``src`` attribute in an HTML page."""
    from html.parser import HTMLParser

    found = []

    class Links(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.extend((tag, value or "") for key, value in attrs if key in ("href", "src"))

    Links(convert_charrefs=True).feed(page)
    return found


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m cnnkit.website``: execute the notebooks and build the site."""
    parser = argparse.ArgumentParser(
        prog="python -m cnnkit.website",
        description="Execute the course notebooks and build a static site of them.",
    )
    parser.add_argument("--out", default="build/site", help="site folder (build/site)")
    parser.add_argument("--full", action="store_true", help="full recipes, not fast mode")
    parser.add_argument("--only", default=None, help="notebook numbers to include, e.g. 04,06")
    parser.add_argument("--notebooks", default="notebooks", help="notebook folder (notebooks)")
    parser.add_argument("--root", default=".", help="repository root (README, docs/)")
    parser.add_argument(
        "--executed", default=None, help="a folder of executed notebooks: build without running"
    )
    parser.add_argument("--timeout", type=float, default=None, help="seconds per cell")
    args = parser.parse_args(argv)
    out = Path(args.out)
    results = None
    run_report = None
    try:
        if args.executed:
            executed = select(find_notebooks(args.executed), args.only)
        else:
            notebooks = select(find_notebooks(args.notebooks), args.only)
            results = run_course(notebooks, out / "run", full=args.full, timeout=args.timeout)
            executed = [r.output for r in results]
            run_report = "run/index.html"
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    index = build_site(executed, out, root=args.root, results=results, run_report=run_report)
    if results:
        _point_report_at_pages(out / "run", [r.output.stem for r in results])
    problems = check_site(out)
    for problem in problems:
        print(f"broken: {problem}", file=sys.stderr)
    print(f"site: {index}")
    failed = [r.name for r in results or [] if _broke(r)]
    if failed:
        print(f"failed notebooks: {', '.join(failed)}", file=sys.stderr)
    return 1 if problems or failed else 0


if __name__ == "__main__":
    sys.exit(main())
