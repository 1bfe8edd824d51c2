"""The package's shape: imports flow one way, private names stay home, one signature rule.

Read from the source (``ast``) and from the live API (``inspect.signature``), so a new module,
import or public function is checked the day it lands. CONTRIBUTING.md explains the rules.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "cnnkit"

# Each unit (a top-level module or sub-package of cnnkit) sits on one layer; a unit may import
# units of its own layer or of lower ones, never of a higher one, and the units form no cycle.
LAYERS = (
    ("foundation", {"env", "preprocessing", "display", "memory", "watchdog"}),
    ("data and models", {"data", "models", "conv", "inspect"}),
    ("training and figures", {"train", "viz", "report", "detect", "widgets"}),
    ("course tools", {"course", "bench", "check", "reference", "website", "__main__"}),
)
LAYER_OF = {unit: level for level, (_, units) in enumerate(LAYERS) for unit in units}
ROOT = "cnnkit"  # the package itself: REPO_URL, __version__, setup() and lazy submodules


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_package(name: str) -> bool:
    return (PACKAGE.parent / name.replace(".", "/") / "__init__.py").is_file()


def _is_module(name: str) -> bool:
    return _is_package(name) or (PACKAGE.parent / f"{name.replace('.', '/')}.py").is_file()


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ROOT


SOURCES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(module: str):
    """(target module, imported names, line) of every import of a cnnkit module in `module`."""
    tree = ast.parse(SOURCES[module].read_text())
    package = module if _is_package(module) else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == ROOT:
                    yield alias.name, [], node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != ROOT:
                continue
            names = [alias.name for alias in node.names]
            submodules = [n for n in names if _is_module(f"{target}.{n}")]
            for name in submodules:
                yield f"{target}.{name}", [], node.lineno
            rest = [n for n in names if n not in submodules]
            if rest or not submodules:
                yield target, rest, node.lineno


def test_every_unit_has_a_layer():
    units = {_unit(m) for m in SOURCES} - {ROOT}
    unplaced = sorted(units - set(LAYER_OF))
    assert not unplaced, f"put these modules on a layer of LAYERS in this file: {unplaced}"


def test_imports_flow_down_the_layers():
    wrong = []
    for module in SOURCES:
        unit = _unit(module)
        if unit == ROOT:
            continue  # the package imports env at the top and the rest lazily
        for target, _, line in _imports(module):
            other = _unit(target)
            if other == unit:
                continue
            if other == ROOT:
                if LAYER_OF[unit] < len(LAYERS) - 1:
                    wrong.append(f"{module}:{line} imports the package root ({target})")
            elif LAYER_OF[other] > LAYER_OF[unit]:
                wrong.append(
                    f"{module}:{line} ({LAYERS[LAYER_OF[unit]][0]}) imports {target} "
                    f"({LAYERS[LAYER_OF[other]][0]})"
                )
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)


def test_units_import_each_other_without_cycles():
    graph: dict[str, set[str]] = {}
    for module in SOURCES:
        unit = _unit(module)
        if unit == ROOT:
            continue
        for target, _, _ in _imports(module):
            if _unit(target) not in (unit, ROOT):
                graph.setdefault(unit, set()).add(_unit(target))
    done: set[str] = set()

    def visit(unit: str, path: tuple[str, ...]) -> None:
        assert unit not in path, "import cycle: " + " -> ".join((*path, unit))
        if unit not in done:
            for other in sorted(graph.get(unit, ())):
                visit(other, (*path, unit))
            done.add(unit)

    for unit in sorted(graph):
        visit(unit, ())


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def test_no_private_name_crosses_a_module_boundary():
    crossings = []
    for module in SOURCES:
        tree = ast.parse(SOURCES[module].read_text())
        bound = set()  # local names bound to other cnnkit modules
        for target, names, line in _imports(module):
            if target == module:
                continue
            crossings += [f"{module}:{line} imports {target}.{n}" for n in names if _private(n)]
            if not names:
                bound.add(target.rpartition(".")[2])
        for node in ast.walk(tree):
            if isinstance(node, (ast.ImportFrom, ast.Import)):
                for alias in node.names:
                    if alias.asname and _is_module(_resolved(module, node, alias.name)):
                        bound.add(alias.asname)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in bound
                and _private(node.attr)
            ):
                crossings.append(f"{module}:{node.lineno} uses {node.value.id}.{node.attr}")
    assert not crossings, "private names used across modules:\n" + "\n".join(crossings)


def _resolved(module: str, node, name: str) -> str:
    if isinstance(node, ast.Import):
        return name
    package = module if _is_package(module) else module.rpartition(".")[0]
    base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
    return ".".join(base + ([node.module] if node.module else []) + [name])


# ------------------------------------------------------------------ the signature rule

PUBLIC_MODULES = [
    "cnnkit.env",
    "cnnkit.preprocessing",
    "cnnkit.display",
    "cnnkit.memory",
    "cnnkit.watchdog",
    "cnnkit.data",
    "cnnkit.models",
    "cnnkit.models.blocks",
    "cnnkit.conv",
    "cnnkit.inspect",
    "cnnkit.train",
    "cnnkit.viz",
    "cnnkit.report",
    "cnnkit.detect",
    "cnnkit.widgets",
    "cnnkit.course",
    "cnnkit.bench",
    "cnnkit.check",
    "cnnkit.reference",
]


def _public_functions():
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isfunction(obj):
                yield f"{module_name}.{name}", obj


FUNCTIONS = dict(_public_functions())
DRAWING_PREFIXES = ("show_", "plot_", "draw_")
# Drawing functions that lay out a grid of their own panels take `fig=` (a Figure or SubFigure
# to draw the grid in) where single-panel ones take `ax=`.
MULTI_PANEL = {
    "cnnkit.viz.show_images",
    "cnnkit.viz.show_filters",
    "cnnkit.viz.show_feature_maps",
    "cnnkit.viz.show_predictions",
    "cnnkit.viz.show_misclassified",
}
CANVAS = {"cnnkit.data.draw_shape"}  # draws on a Pillow ImageDraw, not on matplotlib axes


def test_every_public_module_lists_its_names_and_they_exist():
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        missing = [n for n in module.__all__ if not hasattr(module, n)]
        assert not missing, f"{module_name}.__all__ names what it lacks: {missing}"


@pytest.mark.parametrize("qualname", sorted(FUNCTIONS))
def test_class_names_is_keyword_only(qualname):
    parameter = inspect.signature(FUNCTIONS[qualname]).parameters.get("class_names")
    if parameter is not None:
        assert parameter.kind is inspect.Parameter.KEYWORD_ONLY, (
            f"{qualname}: pass `class_names=` by keyword (put it after `*`)"
        )


@pytest.mark.parametrize("qualname", sorted(FUNCTIONS))
def test_options_after_the_data_are_keyword_only(qualname):
    """Data arguments come first and positionally; options (with defaults) after ``*``.

    An argument with a default may stay positional only where it is the data itself (an
    optional label array ``y=None``, the notebook a link points to, the seed of ``set_seed``)
    or, for builders as in keras.applications, the geometry ``input_shape`` and
    ``num_classes``; and the hand-arithmetic helpers of notebook 03 take the stride and padding
    positionally, as the formula reads.
    """
    allowed = {"input_shape", "num_classes"}  # builders, as keras.applications
    allowed |= {"y", "scores", "image", "seed", "names", "models", "argv"}  # optional data
    allowed |= {"notebook", "directory", "readme", "out_dir", "requirement"}  # course files
    hand_arithmetic = {
        "cnnkit.conv.conv2d",
        "cnnkit.conv.output_size",
        "cnnkit.conv.max_pool",
        "cnnkit.conv.avg_pool",
        "cnnkit.widgets.conv_formula",
    }
    if qualname in hand_arithmetic:
        return
    signature = inspect.signature(FUNCTIONS[qualname])
    loose = [
        name
        for name, p in signature.parameters.items()
        if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
        and p.default is not inspect.Parameter.empty
        and name not in allowed
    ]
    assert not loose, f"{qualname}: options {loose} must come after `*` (keyword-only)"


@pytest.mark.parametrize(
    "qualname", sorted(q for q in FUNCTIONS if q.rpartition(".")[2].startswith(DRAWING_PREFIXES))
)
def test_drawing_functions_take_ax_or_fig(qualname):
    if qualname in CANVAS:
        return
    where = "fig" if qualname in MULTI_PANEL else "ax"
    parameter = inspect.signature(FUNCTIONS[qualname]).parameters.get(where)
    assert parameter is not None and parameter.default is None, f"{qualname} needs `{where}=None`"
    assert parameter.kind is inspect.Parameter.KEYWORD_ONLY


# What a drawing function's name says it draws (CONTRIBUTING.md, "Figures"): `show_` pictures
# (images, filters, feature maps, heatmaps), `plot_` charts and diagrams of numbers, `draw_`
# marks onto a picture the caller passes in.
NOT_DRAWING = {
    # predicts first; its figure reports the prediction, as the digit pad does
    "cnnkit.widgets.predict_digit",
}


@pytest.mark.parametrize("qualname", sorted(FUNCTIONS))
def test_a_function_that_returns_a_figure_says_so_in_its_name(qualname):
    returns = inspect.signature(FUNCTIONS[qualname]).return_annotation
    if "Figure" not in str(returns) or qualname in NOT_DRAWING:
        return
    assert qualname.rpartition(".")[2].startswith(DRAWING_PREFIXES), (
        f"{qualname} returns a Figure: name it show_ (pictures), plot_ (charts) or draw_ "
        "(marks on a given picture)"
    )


@pytest.mark.parametrize(
    "qualname", sorted(q for q in FUNCTIONS if q.rpartition(".")[2].startswith("draw_"))
)
def test_draw_functions_draw_onto_the_picture_they_are_given(qualname):
    first = next(iter(inspect.signature(FUNCTIONS[qualname]).parameters.values()))
    assert first.name in {"image", "draw"} and first.default is inspect.Parameter.empty, (
        f"{qualname}: a draw_ function takes the picture it marks first ({first.name})"
    )


BUILDERS = sorted(
    name
    for name, obj in inspect.getmembers(importlib.import_module("cnnkit.models"))
    if inspect.isfunction(obj) and name in importlib.import_module("cnnkit.models").__all__
)


@pytest.mark.parametrize("builder", BUILDERS)
def test_builders_follow_keras_applications(builder):
    signature = inspect.signature(getattr(importlib.import_module("cnnkit.models"), builder))
    names = list(signature.parameters)
    assert names[:2] == ["input_shape", "num_classes"], names
    if builder != "tiny_yolo":  # a detector: its heads have an activation per quantity
        parameter = signature.parameters.get("classifier_activation")
        assert parameter is not None and parameter.kind is inspect.Parameter.KEYWORD_ONLY, (
            f"{builder}: take `classifier_activation=` like keras.applications"
        )
        assert parameter.default == "softmax"
    assert signature.parameters["name"].kind is inspect.Parameter.KEYWORD_ONLY


@pytest.mark.parametrize("qualname", sorted(FUNCTIONS))
def test_one_spelling_of_strides(qualname):
    """Keras layers say ``strides``; the kit's blocks and builders do too (not ``stride``)."""
    if not qualname.startswith("cnnkit.models"):
        return  # conv's and widgets' hand arithmetic follows the formula's s
    assert "stride" not in inspect.signature(FUNCTIONS[qualname]).parameters, (
        f"{qualname}: call it `strides`, as keras.layers.Conv2D does"
    )
