"""Lint of the course text: notebooks, README.md and docs/**/*.md render and resolve.

Checks, each a plain function that returns a list of problems (so the synthetic notebooks at the
end can test the lint itself):

- no control characters in any cell (a `\\f` or `\\a` in a non-raw Python string that wrote a
  cell, or in a string a code cell prints, turns `\\frac` into a form feed and "rac");
- every referenced notebook (`NN_name.ipynb`, `` `NN_name` ``, a link) exists;
- every Markdown link to a file in the repository resolves;
- every "section N" reference resolves to a heading numbered N in the same notebook, or in the
  notebook named next to it ("section 3 of `04_lenet_mnist`"); an instructor page
  `docs/instructor/<stem>.md` refers to its notebook's sections;
- every math span ($...$, $$...$$) renders: it goes through matplotlib's mathtext parser after
  the few rewrites that MathJax (what Jupyter and GitHub use) accepts and mathtext does not;
- no work-log text ("this session", "load average", "I measured" ...);
- notebooks are stored without outputs and execution counts;
- each notebook ends with the learner's summary and then one short cell linking its page of the
  instructor guide, ``[...](../docs/instructor/<stem>.md)``, which exists. For example:

      ## Instructor notes

      The live-demo plan, where learners stumble and measured timings are in the
      [instructor guide](../docs/instructor/10_yolo_grid_labels.md).

Every failure names the file, the cell (or line) and the offending text.
"""

import ast
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager
from matplotlib.mathtext import MathTextParser

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
MARKDOWN_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]

NOTEBOOK_NAME = r"\d{2}_[a-z][a-z0-9_]*"
LOG_PHRASES = [
    r"this session",
    r"load average",
    r"no GPU was available",
    r"measured this week",
    r"this week",
    r"I measured",
    r"in my run",
    r"\bmy (?:machine|laptop|box|runs?)\b",
    r"\b(?:measured|ran|timed) (?:today|yesterday)\b",
    r"\bTODO\b",
    r"\bFIXME\b",
    r"\bengineer [A-H]\b",
    r"\bthe lead\b",
    r"\bother engineers\b",
    r"\bother jobs\b",
    r"\b(?:see|in|per|from|by) issue #?\d+",
    r"\bnot been (?:timed|measured)\b[^.]*\byet\b",
]
LOG_TEXT = re.compile("|".join(f"(?:{p})" for p in LOG_PHRASES), re.IGNORECASE)


@dataclass
class Unit:
    """One piece of text to lint: a notebook cell or a whole Markdown file."""

    where: str  # "notebooks/10_yolo_grid_labels.ipynb cell 17" or "README.md"
    kind: str  # "markdown" or "code"
    text: str
    path: Path  # the file, for resolving relative links
    notebook: str | None  # the stem whose sections "section N" refers to by default
    line_numbers: bool = False  # Markdown files: report the line of each problem

    def at(self, pos: int) -> str:
        if self.line_numbers:
            return f"{self.where} line {self.text.count(chr(10), 0, pos) + 1}"
        return self.where


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:  # the lint's own tests, in a temporary folder
        return "/".join(path.parts[-2:]) if path.parent.name == "notebooks" else path.name


def units_of(path: Path) -> list[Unit]:
    """The cells of a notebook, or a Markdown file as one unit."""
    if path.suffix == ".ipynb":
        nb = nbformat.read(path, as_version=4)
        return [
            Unit(f"{_rel(path)} cell {i}", cell.cell_type, cell.source, path, path.stem)
            for i, cell in enumerate(nb.cells)
        ]
    page = (
        path.stem
        if path.parent.name == "instructor" and re.fullmatch(NOTEBOOK_NAME, path.stem)
        else None
    )
    return [Unit(_rel(path), "markdown", path.read_text(), path, page, line_numbers=True)]


def _excerpt(text: str, start: int, end: int, pad: int = 30) -> str:
    return repr(text[max(0, start - pad) : end + pad])


def _is_control(ch: str) -> bool:
    return unicodedata.category(ch) == "Cc" and ch not in "\n\t"


def _prose(text: str) -> str:
    """Markdown with fenced code blocks and code spans blanked out (same length)."""
    text = re.sub(r"^(```|~~~).*?^\1[^\n]*$", lambda m: " " * len(m[0]), text, flags=re.S | re.M)
    return re.sub(r"(`+)(?!`).+?(?<!`)\1(?!`)", lambda m: " " * len(m[0]), text, flags=re.S)


def _string_constants(source: str) -> list[str]:
    try:
        tree = ast.parse(TransformerManager().transform_cell(source))
    except SyntaxError:
        return []
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]


def check_control_characters(unit: Unit) -> list[str]:
    problems = [
        f"{unit.at(m.start())}: control character {m[0]!r} in "
        f"{_excerpt(unit.text, m.start(), m.end())}"
        for m in re.finditer(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", unit.text)
    ]
    if unit.kind == "code":  # "\frac" in a non-raw string prints a form feed and "rac"
        for value in _string_constants(unit.text):
            for i, ch in enumerate(value):
                if _is_control(ch):
                    problems.append(
                        f"{unit.where}: a string holds control character {ch!r} (an escape "
                        f"like \\f or \\a; use a raw string r'...'): {_excerpt(value, i, i + 1)}"
                    )
                    break
    return problems


def check_notebook_references(unit: Unit, notebooks: set[str]) -> list[str]:
    patterns = [rf"(?<![\w-])({NOTEBOOK_NAME})\.ipynb\b"]
    if unit.kind == "markdown":
        patterns.append(rf"`({NOTEBOOK_NAME})`")
    problems = []
    for pattern in patterns:
        for m in re.finditer(pattern, unit.text):
            if m[1] not in notebooks:
                problems.append(
                    f"{unit.at(m.start())}: refers to notebook {m[0]!r}, which does not exist "
                    f"(notebooks: {', '.join(sorted(notebooks))})"
                )
    return problems


def check_links(unit: Unit) -> list[str]:
    if unit.kind != "markdown":
        return []
    problems = []
    for m in re.finditer(
        r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)", _prose(unit.text)
    ):
        target = m[1]
        if re.match(r"[a-z][a-z0-9+.-]*:|#", target, re.IGNORECASE):
            continue  # a web address, mailto: or an anchor in the same page
        file = target.split("#")[0].split("?")[0]
        if file and not (unit.path.parent / file).exists():
            problems.append(f"{unit.at(m.start())}: link to {target!r}, which does not exist")
    return problems


def numbered_headings(path: Path) -> set[int]:
    """The N of every Markdown heading '#... N. Title' in a notebook."""
    nb = nbformat.read(path, as_version=4)
    return {
        int(m[1])
        for cell in nb.cells
        if cell.cell_type == "markdown"
        for m in re.finditer(r"^#{1,6}\s+(\d+)[.):]?\s", cell.source, re.MULTILINE)
    }


_N = r"\d+(?![\d,]*,\d{3}\b)(?!\d)"  # a section number, not the 1 of "to 1,000"
SECTION_REF = re.compile(
    rf"\b[Ss]ections?\s+({_N}(?:\s*(?:[-\u2013/,&]|\band\b|\bor\b|\bto\b)\s*{_N})*)\b"
    r"|\u00a7\s*(\d+)"
)
NAMED_AFTER = re.compile(r"^\s*(?:of|in)\s+(?:notebook\s+)?\[?`?(\d{2})(?:_[a-z0-9_]*)?\b")
NAMED_BEFORE = re.compile(
    r"(?:notebook\s+|`|\[)(\d{2})(?:_[a-z0-9_]*)?(?:\.ipynb)?`?\]?(?:\([^)]*\))?"
    r"(?:'s|,)?\s*\(?\s*$"
)


def _section_numbers(spec: str) -> list[int]:
    numbers, pending_range = [], False
    for token in re.findall(r"\d+|[-\u2013]|\bto\b", spec):
        if token.isdigit():
            if pending_range and numbers:
                numbers.extend(range(numbers[-1] + 1, int(token) + 1))
            else:
                numbers.append(int(token))
            pending_range = False
        else:
            pending_range = True
    return numbers


def check_section_references(unit: Unit, notebook_paths: dict[str, Path]) -> list[str]:
    by_number = {stem[:2]: stem for stem in notebook_paths}
    text = _prose(unit.text) if unit.kind == "markdown" else unit.text
    problems = []
    for m in SECTION_REF.finditer(text):
        after = NAMED_AFTER.match(unit.text[m.end() : m.end() + 60])
        before = NAMED_BEFORE.search(unit.text[max(0, m.start() - 80) : m.start()])
        named = (after or before)[1] if (after or before) else None
        stem = by_number.get(named) if named else unit.notebook
        if named and stem is None:
            continue  # the missing notebook is check_notebook_references' finding
        if stem is None or stem not in notebook_paths:
            continue  # a README sentence that names no notebook
        headings = numbered_headings(notebook_paths[stem])
        missing = [n for n in _section_numbers(m[1] or m[2]) if n not in headings]
        if missing:
            problems.append(
                f"{unit.at(m.start())}: {m[0]!r} refers to section(s) {missing} of {stem}, "
                f"whose numbered headings are {sorted(headings)}: "
                f"{_excerpt(unit.text, m.start(), m.end())}"
            )
    return problems


def math_spans(markdown: str) -> list[tuple[int, str]]:
    """(offset, LaTeX) of each $$...$$, $...$, \\[...\\] and \\(...\\) span, as Jupyter sees it."""
    text = _prose(markdown)
    text = re.sub(r"\\\$", "  ", text)  # an escaped dollar is a dollar sign
    spans = []
    pattern = re.compile(
        r"\$\$(.+?)\$\$|\\\[(.+?)\\\]|\\\((.+?)\\\)|\$(?!\s)([^$]+?)(?<!\s)\$", re.S
    )
    for block in re.finditer(r"(?:[^\n]|\n(?!\s*\n))+", text):  # inline math stays in a paragraph
        for m in pattern.finditer(block[0]):
            group = next(g for g in range(1, 5) if m[g] is not None)
            start, end = block.start() + m.start(group), block.start() + m.end(group)
            spans.append((start, markdown[start:end]))
    return spans


# What MathJax accepts and matplotlib's mathtext does not, rewritten to what mathtext parses.
MATHJAX_TO_MATHTEXT = [
    (r"\\(?:begin|end)\{[a-z]*\*?\}(?:\{[lcr|]*\})?", " "),
    (r"\\(?:tag|label|hspace|vspace|color)\{[^{}]*\}", " "),
    (r"\\(?:displaystyle|textstyle|scriptstyle|limits|nolimits|nonumber|notag|middle)\b", " "),
    (r"\\(?:big|Big|bigg|Bigg)[lrm]?\b", " "),
    (r"\\textcolor\{[^{}]*\}", " "),
    (r"\\(?:boxed|cancel|underbrace|overbrace)\b", " "),
    (r"\\operatorname\*", r"\\operatorname"),
    (r"\\[td]frac\b", r"\\frac"),
    (r"\\textbf\b", r"\\mathbf"),
    (r"\\(?:textit|emph)\b", r"\\mathit"),
    (r"\\stackrel\b", r"\\overset"),
    (r"\\[lr]vert\b", "|"),
    (r"\\[lr]Vert\b", r"\\|"),
    (r"\\le\b", r"\\leq"),
    (r"\\ge\b", r"\\geq"),
    (r"\\lt\b", "<"),
    (r"\\gt\b", ">"),
    (r"\\gets\b", r"\\leftarrow"),
    (r"\\square\b", r"\\Box"),
    (r"\\&", r"\\mathrm{and}"),
    (r"&", " "),
]
_PARSER = MathTextParser("path")


def math_error(latex: str) -> str | None:
    """Why `latex` would not render, or None when mathtext parses it (after the rewrites)."""
    bad = next((ch for ch in latex if _is_control(ch)), None)
    if bad is not None:
        return f"control character {bad!r}"
    for pattern, replacement in MATHJAX_TO_MATHTEXT:
        latex = re.sub(pattern, replacement, latex)
    for line in re.split(r"\\\\(?:\[[^\]]*\])?", latex):  # rows of aligned/matrix/cases
        line = " ".join(line.split())
        if not line:
            continue
        try:
            _PARSER.parse(f"${line}$")
        except ValueError as exc:
            return " ".join(str(exc).split())
    return None


def check_math(unit: Unit) -> list[str]:
    if unit.kind != "markdown":
        return []
    problems = []
    for start, latex in math_spans(unit.text):
        error = math_error(latex)
        if error:
            problems.append(f"{unit.at(start)}: math does not render ({error}): {latex!r}")
    return problems


def check_log_text(unit: Unit) -> list[str]:
    return [
        f"{unit.at(m.start())}: work-log text {m[0]!r} (write for learners and instructors, "
        f"not as a log): {_excerpt(unit.text, m.start(), m.end())}"
        for m in LOG_TEXT.finditer(unit.text)
    ]


def check_stored_clean(path: Path) -> list[str]:
    nb = nbformat.read(path, as_version=4)
    return [
        f"{_rel(path)} cell {i}: stored with outputs or an execution count; clear them "
        "(jupyter nbconvert --clear-output --inplace)"
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count"))
    ]


SUMMARY_HEADING = re.compile(r"^#{1,6}\s.*\b(?:summary|key points)\b", re.I | re.M)


def check_ending(path: Path, root: Path = ROOT) -> list[str]:
    nb = nbformat.read(path, as_version=4)
    name, cells = _rel(path), nb.cells
    page = root / "docs" / "instructor" / f"{path.stem}.md"
    link = f"../docs/instructor/{path.stem}.md"
    last = len(cells) - 1
    if last < 1:
        return [f"{name}: too few cells for a summary and a link to {link}"]
    problems = []
    summaries = [
        i
        for i, c in enumerate(cells)
        if c.cell_type == "markdown" and SUMMARY_HEADING.search(c.source)
    ]
    if not summaries:
        problems.append(f"{name}: no summary cell (a heading '## Summary' near the end)")
    elif summaries[-1] == last:
        problems.append(
            f"{name} cell {last}: the summary is the last cell; add one short cell after it "
            f"that links the instructor page '[...]({link})'"
        )
    elif summaries[-1] != last - 1:
        after = [
            f"cell {i} ({cells[i].source.strip()[:50]!r})" for i in range(summaries[-1] + 1, last)
        ]
        problems.append(
            f"{name} cell {summaries[-1]}: the summary must be the second-to-last cell, followed "
            f"only by the link to the instructor page; after it come {', '.join(after)}"
        )
    if summaries:
        summary = cells[summaries[-1]].source
        m = re.search(r"^#{1,6}\s.*instructor.*$", summary, re.I | re.M)
        if m:
            problems.append(
                f"{name} cell {summaries[-1]}: the summary carries instructor notes ({m[0]!r}); "
                f"move them to docs/instructor/{path.stem}.md"
            )
    end = cells[last]
    if end.cell_type != "markdown" or f"]({link})" not in end.source:
        problems.append(
            f"{name} cell {last}: the last cell must link the instructor page "
            f"'[...]({link})'. Received: {end.source.strip()[:120]!r}"
        )
    elif re.search(r"^\s*(?:[-*]|\d+\.)\s", end.source, re.M) or len(end.source) > 600:
        problems.append(
            f"{name} cell {last}: the link cell holds instructor notes (a list or > 600 "
            f"characters); move them to docs/instructor/{path.stem}.md: {end.source[:80]!r}"
        )
    if not page.exists():
        problems.append(
            f"{name} cell {last}: the instructor page {page.relative_to(root)} does not exist"
        )
    return problems


def lint_text(path: Path, notebook_paths: dict[str, Path]) -> list[str]:
    """Every per-unit check on one notebook or Markdown file."""
    problems = []
    for unit in units_of(path):
        problems += check_control_characters(unit)
        problems += check_notebook_references(unit, set(notebook_paths))
        problems += check_links(unit)
        problems += check_section_references(unit, notebook_paths)
        problems += check_math(unit)
        problems += check_log_text(unit)
    return problems


# The course itself ---------------------------------------------------------------------------

COURSE = {p.stem: p for p in NOTEBOOKS}
TEXTS = NOTEBOOKS + [p for p in MARKDOWN_FILES if p.exists()]
CHECKS = {
    "control_characters": lambda u: check_control_characters(u),
    "notebook_references": lambda u: check_notebook_references(u, set(COURSE)),
    "links": check_links,
    "section_references": lambda u: check_section_references(u, COURSE),
    "math": check_math,
    "log_text": check_log_text,
}


def _fail(problems: list[str]) -> None:
    if problems:
        pytest.fail(f"{len(problems)} problem(s):\n" + "\n".join(problems), pytrace=False)


@pytest.mark.parametrize("check", list(CHECKS))
@pytest.mark.parametrize("path", TEXTS, ids=[_rel(p) for p in TEXTS])
def test_course_text(path, check):
    _fail([p for unit in units_of(path) for p in CHECKS[check](unit)])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_stored_without_outputs(path):
    _fail(check_stored_clean(path))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_ends_with_summary_and_instructor_link(path):
    _fail(check_ending(path))


# The lint on synthetic notebooks ---------------------------------------------------------------


def _notebook(tmp_path: Path, stem: str, *cells) -> Path:
    nb = nbformat.v4.new_notebook()
    for kind, source in cells:
        maker = nbformat.v4.new_markdown_cell if kind == "md" else nbformat.v4.new_code_cell
        nb.cells.append(maker(source))
    (tmp_path / "notebooks").mkdir(exist_ok=True)
    path = tmp_path / "notebooks" / f"{stem}.ipynb"
    nbformat.write(nb, path)
    return path


GOOD_ENDING = [
    ("md", "## Summary\n\n- IoU measures overlap."),
    ("md", "## Instructor notes\n\nSee the [guide](../docs/instructor/10_demo.md)."),
]


def _lint(path: Path) -> list[str]:
    return lint_text(path, {p.stem: p for p in path.parent.glob("*.ipynb")})


def test_lint_passes_a_clean_notebook(tmp_path):
    path = _notebook(
        tmp_path,
        "10_demo",
        ("md", "# 10 Demo"),
        ("md", "## 1. Grids\n\nSee section 2 and `10_demo`; $1 - \\frac{8}{9} \\approx 11\\%$."),
        ("md", "## 2. IoU\n\n$$\\begin{aligned} a &= b \\\\ c &= \\text{d}\\,e \\end{aligned}$$"),
        ("code", 'print(r"$\\frac{1}{2}$")  # section 1'),
        *GOOD_ENDING,
    )
    (tmp_path / "docs" / "instructor").mkdir(parents=True)
    (tmp_path / "docs" / "instructor" / "10_demo.md").write_text("# 10 Demo\n")
    assert _lint(path) == []
    assert check_ending(path, root=tmp_path) == []
    assert check_stored_clean(path) == []


def test_lint_finds_a_control_character_from_a_non_raw_string(tmp_path):
    path = _notebook(tmp_path, "10_demo", ("md", "# 10"), ("md", "$1 - \frac{8}{9}$"))
    problems = _lint(path)
    assert any(
        p.startswith("notebooks/10_demo.ipynb cell 1: control character '\\x0c'") and "rac{8}" in p
        for p in problems
    ), problems
    assert any("cell 1: math does not render (control character '\\x0c')" in p for p in problems)


def test_lint_finds_a_control_character_a_code_cell_would_print(tmp_path):
    path = _notebook(tmp_path, "10_demo", ("code", 'print("$1 - \\frac{8}{9}$ \\approx")'))
    (problem,) = _lint(path)
    assert problem.startswith("notebooks/10_demo.ipynb cell 0: a string holds control character")
    assert "rac{8}{9}" in problem


def test_lint_finds_a_missing_notebook(tmp_path):
    path = _notebook(
        tmp_path, "06_minivgg", ("md", "As in `06_mini_vgg` and [06](06_minivggnet.ipynb).")
    )
    problems = [p for p in _lint(path) if "does not exist" in p]
    assert any("cell 0: refers to notebook '`06_mini_vgg`'" in p for p in problems), problems
    assert any("refers to notebook '06_minivggnet.ipynb'" in p for p in problems), problems
    assert any("link to '06_minivggnet.ipynb', which does not exist" in p for p in problems)


def test_lint_finds_a_section_reference_to_a_missing_heading(tmp_path):
    _notebook(tmp_path, "04_lenet", ("md", "## 1. One\n## 2. Two"))
    path = _notebook(
        tmp_path,
        "10_demo",
        ("md", "## 1. Grids\n## 2. IoU"),
        ("md", "Anchors (section 6); sections 1-2 are fine; section 2 of `04_lenet` too."),
        ("md", "But see `04_lenet`, section 3, and sections 1/2/5."),
        ("md", "Lower `n` in section 2 to 1,000 images; sections 1 and 2, 1,000 more."),
    )
    problems = _lint(path)
    assert len(problems) == 3, problems
    assert problems[0].startswith(
        "notebooks/10_demo.ipynb cell 1: 'section 6' refers to section(s) [6] of 10_demo"
    )
    assert "section(s) [3] of 04_lenet" in problems[1] and "cell 2" in problems[1]
    assert "'sections 1/2/5' refers to section(s) [5] of 10_demo" in problems[2]


def test_lint_finds_math_that_does_not_render(tmp_path):
    path = _notebook(
        tmp_path, "10_demo", ("md", "Fine $x_{min}$, broken $\\frac{1}{2$ and $\\nosuch$.")
    )
    problems = _lint(path)
    assert len(problems) == 2, problems
    assert problems[0].startswith("notebooks/10_demo.ipynb cell 0: math does not render")
    assert problems[0].endswith("'\\\\frac{1}{2'") and problems[1].endswith("'\\\\nosuch'")


def test_math_spans_skip_code_and_escaped_dollars():
    text = "A `$x$` span, \\$5 and \\$6, then $a$ and\n\n$$\nb\n$$\n```\n$c$\n```"
    assert [latex for _, latex in math_spans(text)] == ["a", "\nb\n"]


def test_lint_finds_log_text_in_notebooks_and_markdown(tmp_path):
    path = _notebook(
        tmp_path, "10_demo", ("md", "ok"), ("code", "# In this session no GPU was available")
    )
    (first, second) = _lint(path)
    assert first.startswith("notebooks/10_demo.ipynb cell 1: work-log text 'this session'")
    assert "'no GPU was available'" in second
    page = tmp_path / "guide.md"
    page.write_text("# Guide\n\nFine.\nThe load average was 9.\n")
    (problem,) = _lint(page)
    assert problem.startswith("guide.md line 4: work-log text 'load average'")


def test_lint_finds_outputs_and_a_wrong_ending(tmp_path):
    path = _notebook(
        tmp_path,
        "10_demo",
        ("code", "1 + 1"),
        ("md", "## Summary\n\n- a\n\n## Instructor notes\n\n- demo live"),
        ("code", "print('after')"),
        ("md", "The end."),
    )
    nb = nbformat.read(path, as_version=4)
    nb.cells[0].execution_count = 3
    nbformat.write(nb, path)
    assert check_stored_clean(path) == [
        "notebooks/10_demo.ipynb cell 0: stored with outputs or an execution count; clear them "
        "(jupyter nbconvert --clear-output --inplace)"
    ]
    problems = check_ending(path, root=tmp_path)
    assert problems[0].startswith(
        "notebooks/10_demo.ipynb cell 1: the summary must be the second-to-last cell"
    )
    assert "cell 2 (\"print('after')\")" in problems[0]
    assert "carries instructor notes ('## Instructor notes')" in problems[1]
    assert problems[2].startswith("notebooks/10_demo.ipynb cell 3: the last cell must link")
    assert problems[3].endswith("docs/instructor/10_demo.md does not exist")
