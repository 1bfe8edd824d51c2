"""``python -m cnnkit bench``: train the course's models with a budget's recipe and time them.

For each model the benchmark loads its dataset (``cnnkit.data.load``: the real one when a data
dir holds it, its stand-in offline), trains it with :func:`cnnkit.train.fit` and the recipe of
the budget, evaluates it on the test split (the validation split when the data has no test
split), times inference, samples the peak resident memory, and trains the same model again
with a plain ``model.fit`` on the same data, batch size and epochs to measure the overhead of
``cnnkit.train.fit``. It writes one JSON record per model and a Markdown table beside it.

Example: ``python -m cnnkit bench --models mini_vgg --data-dir ../shared/data-unpacked
--budget cpu --out bench.json`` (writes ``bench.json`` and ``bench.md``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .memory import PeakMemory

__all__ = ["DEFAULT_MODELS", "RECIPES", "main", "markdown_table", "recipe", "run"]

DEFAULT_MODELS = ("lenet", "alexnet_cifar", "mini_vgg", "mini_googlenet", "resnet")


def _recipe(dataset, optimizer, learning_rate, batch_size, limit, epochs, augment, **model_args):
    return {
        "dataset": dataset,
        "optimizer": optimizer,
        "learning_rate": learning_rate,
        "schedule": "one_cycle",
        "batch_size": batch_size,
        "limit": limit,
        "epochs": epochs,
        "augment": augment,
        "model_args": model_args,
    }


def _lenet(limit, epochs, batch_size=32):
    return _recipe("mnist", "adam", 2e-3, batch_size, limit, epochs, None)


def _speedrun(limit, epochs, batch_size, widths):
    # trained by cnnkit.train.speedrun (its own optimiser, schedule and augmentation), on all
    # training images (no validation split), evaluated with test-time augmentation
    return {
        "dataset": "cifar10",
        "trainer": "speedrun",
        "batch_size": batch_size,
        "limit": limit,
        "epochs": epochs,
        "model_args": {"widths": widths},
    }


def _cifar(learning_rate, batch_size, limit, epochs, **model_args):
    return _recipe(
        "cifar10", "sgd", learning_rate, batch_size, limit, epochs, "flip_shift", **model_args
    )


# "cpu" is the CPU full-mode recipe of the model's notebook (04-08: limit, epochs, batch size,
# peak rate, configuration), so the table measures what a workshop laptop runs; "gpu" is the
# notebooks' GPU recipe (the slides' full runs); "fast" is the test suite's smoke run (256
# images, one epoch, batch 64). Measured figures: the closing notes of issues 6 and 9.
_SMALL_RESNET = {"filters": (32, 64, 128)}
RECIPES: dict[str, dict[str, dict[str, Any]]] = {
    "lenet": {
        "fast": _lenet(256, 1, batch_size=64),
        "cpu": _lenet(None, 12),
        "gpu": _lenet(None, 12),
    },
    "alexnet_cifar": {
        "fast": _cifar(0.05, 64, 256, 1),
        "cpu": _cifar(0.05, 64, 10_000, 12),
        "gpu": _cifar(0.05, 64, None, 60),
    },
    "mini_vgg": {
        "fast": _cifar(0.01, 64, 256, 1),
        "cpu": _cifar(0.05, 128, None, 8),
        "gpu": _cifar(0.01, 64, None, 40),
    },
    "mini_googlenet": {
        "fast": _cifar(0.1, 64, 256, 1),
        "cpu": _cifar(0.1, 64, 5_000, 4),
        "gpu": _cifar(0.1, 128, None, 70),
    },
    "resnet": {
        "fast": _cifar(0.1, 64, 256, 1, stages=(1, 1, 1), **_SMALL_RESNET),
        "cpu": _cifar(0.1, 64, 15_000, 10, stages=(3, 3, 3), **_SMALL_RESNET),
        "gpu": _cifar(0.1, 128, None, 80),
    },
    # not in DEFAULT_MODELS: ask for it with --models speedrun (notebook 12)
    "speedrun": {
        "fast": _speedrun(256, 2, 64, (16, 32, 32)),
        "cpu": _speedrun(None, 7, 512, (32, 128, 128)),  # = train.speedrun.SPEEDRUN_CPU
        "gpu": _speedrun(None, 9.9, 1024, (64, 256, 256)),
    },
}
"""Model -> budget -> the recipe the benchmark trains with (dataset, epochs, batch size ...)."""


def recipe(model: str, budget: str) -> dict[str, Any]:
    """The training recipe of ``model`` under ``budget`` (a copy: change it freely)."""
    if model not in RECIPES:
        raise ValueError(f"`model` must be one of {', '.join(RECIPES)}. Received: model={model!r}")
    if budget not in ("fast", "cpu", "gpu"):
        raise ValueError(f"`budget` must be one of fast, cpu, gpu. Received: budget={budget!r}")
    return dict(RECIPES[model][budget])


def _machine() -> dict[str, Any]:
    import keras

    facts = {
        "platform": platform.platform(),
        "processor": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
    }
    if facts["backend"] == "tensorflow":
        import tensorflow as tf

        facts["tensorflow"] = tf.__version__
    from .env import devices

    facts["devices"] = devices()
    return facts


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _build(name: str, data, seed: int, model_args: dict[str, Any]):
    import keras

    from . import models

    keras.utils.set_random_seed(seed)
    return getattr(models, name)(
        input_shape=data.input_shape, num_classes=data.num_classes, **model_args
    )


def _record_head(name: str, data, budget: str, plan: dict, *, eval_split: str) -> dict:
    """The fields every benchmark record starts with: what trained, on which data, how."""
    return {
        "model": name,
        "dataset": data.name,
        "source": data.source,
        "real_data": bool(data.is_real),
        "budget": budget,
        "train_images": len(data.x_train),
        "eval_split": eval_split,
        "recipe": plan,
    }


def _epoch_clock(times: list[float], cpu_times: list[float], progress):
    import keras

    class EpochClock(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter())
            cpu_times.append(time.process_time())
            progress.update(1)

    return EpochClock()


def _bench_one(
    name: str, budget: str, *, data_dir, seed: int, overrides, plain_epochs, progress
) -> dict:
    import keras

    from . import data as cdata
    from . import train
    from .train.fitting import make_optimizer, resolve_jit_compile

    plan = {**recipe(name, budget), **{k: v for k, v in overrides.items() if v is not None}}
    if plan.get("trainer") == "speedrun":
        return _bench_speedrun(name, budget, plan, data_dir=data_dir, seed=seed, progress=progress)
    data = cdata.load(plan["dataset"], data_dir=data_dir, limit=plan["limit"], seed=seed)
    has_test = len(data.x_test) > 0
    x_eval, y_eval = (data.x_test, data.y_test) if has_test else (data.x_val, data.y_val)
    epochs, batch_size = plan["epochs"], plan["batch_size"]

    progress.set_description(f"{name}: cnnkit fit")
    with PeakMemory(interval=0.05, high_water_mark=False) as peak:
        model = _build(name, data, seed, plan["model_args"])
        clock: list[float] = []
        cpu_clock: list[float] = []
        cpu_start = time.process_time()
        start = time.perf_counter()
        train.fit(
            model,
            data,
            epochs=epochs,
            batch_size=batch_size,
            optimizer=plan["optimizer"],
            learning_rate=plan["learning_rate"],
            schedule=plan["schedule"],
            augment=plan["augment"],
            callbacks=[_epoch_clock(clock, cpu_clock, progress)],
            seed=seed,
            verbose=0,
        )
        wall = clock[-1] - start
        cpu = cpu_clock[-1] - cpu_start
        x_prep = train.prepare(x_eval)
        probs = model.predict(x_prep, batch_size=256, verbose=0)  # also warms up predict
        accuracy = float(np.mean(np.argmax(probs, axis=1) == y_eval))
        t0 = time.perf_counter()
        model.predict(x_prep, batch_size=256, verbose=0)
        infer = len(x_prep) / (time.perf_counter() - t0)
    steady = np.diff([start, *clock])[1:] if epochs > 1 else np.array([wall])
    record = {
        **_record_head(name, data, budget, plan, eval_split="test" if has_test else "val"),
        "eval_images": len(x_eval),
        "test_accuracy": round(accuracy, 4),
        "epochs": epochs,
        "batch_size": batch_size,
        "parameters": int(model.count_params()),
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "epoch_s": [round(float(s), 2) for s in np.diff([start, *clock])],
        "train_images_per_s": round(len(data.x_train) / float(np.median(steady)), 1),
        "infer_images_per_s": round(infer, 1),
        "peak_rss_mb": round(peak.mib, 1),
    }
    del model
    keras.backend.clear_session()

    plain_epochs = epochs if plain_epochs is None else plain_epochs
    if plain_epochs > 0:
        progress.set_description(f"{name}: plain model.fit")
        plain = _build(name, data, seed, plan["model_args"])
        plain.compile(
            # the same optimizer at a constant rate: plain Keras has no schedule by default
            optimizer=make_optimizer(plan["optimizer"], plan["learning_rate"]),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
            jit_compile=resolve_jit_compile(None),  # the same kernels as cnnkit's fit
        )
        plain_clock: list[float] = []
        plain_cpu_clock: list[float] = []
        plain_cpu = time.process_time()
        t0 = time.perf_counter()
        plain.fit(
            train.prepare(data.x_train),
            data.y_train,
            batch_size=batch_size,
            epochs=plain_epochs,
            validation_data=(train.prepare(data.x_val), data.y_val),
            callbacks=[_epoch_clock(plain_clock, plain_cpu_clock, progress)],
            verbose=0,
        )
        plain_wall = plain_clock[-1] - t0
        plain_cpu = plain_cpu_clock[-1] - plain_cpu
        # cnnkit's time over the same number of epochs, from its call to that epoch's end.
        k = min(plain_epochs, epochs) - 1
        ours, ours_cpu = clock[k] - start, cpu_clock[k] - cpu_start
        record.update(
            plain_keras_epochs=plain_epochs,
            plain_keras_wall_s=round(plain_wall, 3),
            overhead_ratio=round(ours / plain_wall, 3),
            plain_keras_cpu_s=round(plain_cpu, 3),
            overhead_ratio_cpu=round(ours_cpu / plain_cpu, 3),
        )
        del plain
        keras.backend.clear_session()
    return record


def _bench_speedrun(name: str, budget: str, plan: dict, *, data_dir, seed: int, progress) -> dict:
    import keras

    from . import data as cdata
    from . import train
    from .inspect import count_macs
    from .train.speedrun import speedrun

    data = cdata.load("cifar10", data_dir=data_dir, limit=plan["limit"], val_split=0, seed=seed)
    progress.set_description(f"{name}: cnnkit speedrun")
    with PeakMemory(interval=0.05, high_water_mark=False) as peak:
        result = speedrun(
            data,
            epochs=plan["epochs"],
            batch_size=plan["batch_size"],
            widths=plan["model_args"]["widths"],
            seed=seed,
            eval_every_epoch=True,  # the accuracy-vs-seconds curve, off the training clock
            on_epoch_end=lambda entry: progress.update(1),
        )
        x_eval = data.x_test if len(data.x_test) else data.x_val
        # inference speed on 2,048 images: a float copy of the whole split would set the peak
        x_prep = train.prepare(x_eval[:2048])
        result.model.predict(x_prep[:256], batch_size=256, verbose=0)  # warm up predict
        t0 = time.perf_counter()
        result.model.predict(x_prep, batch_size=256, verbose=0)
        infer = len(x_prep) / (time.perf_counter() - t0)
    seconds = [e["seconds"] for e in result.history]
    steady = np.diff(seconds)[:-1] if len(seconds) > 2 else np.array([seconds[-1]])
    steps = len(data.x_train) // plan["batch_size"]
    macs = count_macs(result.model)
    record = {
        **_record_head(name, data, budget, plan, eval_split=result.eval_split),
        "eval_images": len(x_eval),
        "test_accuracy": round(result.accuracy, 4),
        "test_accuracy_no_tta": round(result.accuracy_plain, 4),
        "epochs": plan["epochs"],
        "batch_size": plan["batch_size"],
        "parameters": int(result.model.count_params()),
        "macs": macs,
        # forward + backward (about 3 forward passes) x 2 FLOPs per multiply-accumulate
        "train_pflops": round(3 * 2 * macs * result.images_seen / 1e15, 4),
        "wall_s": round(result.train_seconds, 3),
        "cpu_s": round(result.train_cpu_seconds, 3),
        "epoch_s": [round(float(s), 2) for s in np.diff([0.0, *seconds])],
        "history": result.history,
        "train_images_per_s": round(steps * plan["batch_size"] / float(np.median(steady)), 1)
        if len(seconds) > 2
        else round(result.images_seen / result.train_seconds, 1),
        "infer_images_per_s": round(infer, 1),
        "peak_rss_mb": round(peak.mib, 1),
    }
    progress.update(max(0, math.ceil(plan["epochs"]) - len(result.history)))
    del result
    keras.backend.clear_session()
    return record


def run(
    models: Sequence[str] = DEFAULT_MODELS,
    *,
    budget: str | None = None,
    data_dir: str | os.PathLike | None = None,
    seed: int = 0,
    epochs: int | None = None,
    batch_size: int | None = None,
    plain_epochs: int | None = None,
) -> list[dict[str, Any]]:
    """Train and time each model with its recipe; returns one record per model.

    Args:
        models: builder names from ``cnnkit.models`` (see :data:`RECIPES`).
        budget: ``"fast"``, ``"cpu"`` or ``"gpu"``; default :func:`cnnkit.mode`.
        data_dir: a folder in the layouts ``cnnkit.data`` reads; stand-ins when it lacks a set.
        seed: seed of the weights, the subsets and the shuffle.
        epochs, batch_size: override the recipe's.
        plain_epochs: epochs of the plain ``model.fit`` twin (default: the recipe's epochs;
            0 skips it); the overhead ratio compares the same number of epochs.

    Returns:
        Records with ``model``, ``dataset``, ``budget``, ``test_accuracy``, ``epochs``,
        ``wall_s`` (cnnkit ``fit``, compile included), ``cpu_s`` (the process's CPU seconds
        in ``fit``; on a shared machine cpu_s / cores estimates an idle machine's wall),
        ``train_images_per_s`` (median epoch after the first), ``infer_images_per_s``,
        ``peak_rss_mb``, ``plain_keras_wall_s``, ``overhead_ratio`` (wall over wall),
        ``overhead_ratio_cpu`` (CPU seconds over CPU seconds: steadier on a shared machine)
        and ``machine``.
    """
    from tqdm.auto import tqdm

    from .env import mode, silence

    silence()
    budget = budget or mode()
    unknown = [m for m in models if m not in RECIPES]
    if unknown or not models:
        raise ValueError(
            f"`models` must name some of {', '.join(RECIPES)}. Received: models={list(models)}"
        )
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if value is not None and value < 1:
            raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value}")
    machine = _machine()
    total = 0
    for name in models:
        n = epochs or recipe(name, budget)["epochs"]
        if recipe(name, budget).get("trainer") == "speedrun":  # no plain model.fit twin
            total += math.ceil(n)
            continue
        total += n + (n if plain_epochs is None else plain_epochs)
    overrides = {"epochs": epochs, "batch_size": batch_size}
    records = []
    with tqdm(total=total, unit="epoch", file=sys.stderr) as progress:
        for name in models:
            record = _bench_one(
                name,
                budget,
                data_dir=data_dir,
                seed=seed,
                overrides=overrides,
                plain_epochs=plain_epochs,
                progress=progress,
            )
            record["machine"] = machine
            records.append(record)
    return records


def markdown_table(records: Sequence[dict[str, Any]]) -> str:
    """The records as a Markdown table, one row per model."""
    header = (
        "| model | data | budget | epochs | test acc | wall s | train img/s | infer img/s "
        "| peak RSS MB | plain Keras s | overhead wall / CPU |\n"
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n"
    )
    rows = []
    for r in records:
        kind = "real" if r["real_data"] else "stand-in"
        data = f"{r['dataset']} ({kind}, {r['train_images']:,} train)"
        plain = (
            f"{r['plain_keras_wall_s']:.1f} ({r['plain_keras_epochs']} ep)"
            if "plain_keras_wall_s" in r
            else "-"
        )
        ratio = (
            f"{r['overhead_ratio']:.3f} / {r['overhead_ratio_cpu']:.3f}"
            if "overhead_ratio" in r
            else "-"
        )
        rows.append(
            f"| {r['model']} | {data} | {r['budget']} | {r['epochs']} | "
            f"{r['test_accuracy']:.4f} ({r['eval_split']}) | {r['wall_s']:.1f} | "
            f"{r['train_images_per_s']:,.0f} | {r['infer_images_per_s']:,.0f} | "
            f"{r['peak_rss_mb']:,.0f} | {plain} | {ratio} |"
        )
    return header + "\n".join(rows) + "\n"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m cnnkit bench",
        description="Train the course's models with a budget's recipe and time them; "
        "write JSON records and a Markdown table.",
    )
    parser.add_argument(
        "--models",
        default=",".join(DEFAULT_MODELS),
        help=f"comma-separated builder names (default: {','.join(DEFAULT_MODELS)})",
    )
    parser.add_argument("--data-dir", default=None, help="folder with the real datasets")
    parser.add_argument(
        "--budget", choices=("fast", "cpu", "gpu"), default=None, help="default: this machine's"
    )
    parser.add_argument("--out", default="bench.json", help="JSON file; the table goes beside it")
    parser.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs")
    parser.add_argument("--batch-size", type=int, default=None, help="override the batch size")
    parser.add_argument(
        "--plain-epochs",
        type=int,
        default=None,
        help="epochs of the plain model.fit twin (default: same as cnnkit; 0 skips it)",
    )
    parser.add_argument("--seed", type=int, default=0)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """The ``bench`` command: parse ``argv``, run, write ``--out`` and its ``.md``; exit code."""
    args = _parser().parse_args(argv)
    out = Path(args.out)
    problem = _out_problem(out)
    if problem:
        print(f"cnnkit bench: {problem} Received: --out {args.out}", file=sys.stderr)
        return 2
    records = run(
        [m.strip() for m in args.models.split(",") if m.strip()],
        budget=args.budget,
        data_dir=args.data_dir,
        seed=args.seed,
        epochs=args.epochs,
        batch_size=args.batch_size,
        plain_epochs=args.plain_epochs,
    )
    out.write_text(json.dumps(records, indent=1, default=str))
    table = markdown_table(records)
    out.with_suffix(".md").write_text(f"{_MARK}\n{table}")
    sys.stdout.write(table)
    return 0


_MARK = "<!-- written by python -m cnnkit bench -->"


def _written_by_bench(path: Path) -> bool:
    try:
        if path.suffix == ".md":
            return path.read_text().startswith(_MARK)
        records = json.loads(path.read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    return isinstance(records, list) and all(
        isinstance(r, dict) and {"model", "test_accuracy"} <= set(r) for r in records
    )


def _out_problem(out: Path) -> str | None:
    """Why ``--out`` cannot be written, checked before hours of training; None when it can."""
    if out.suffix != ".json":
        return (
            "`--out` names the JSON file (e.g. build/bench.json); the table goes beside it as .md."
        )
    for path in (out, out.with_suffix(".md")):
        if path.exists() and not _written_by_bench(path):
            return (
                f"{path} exists and was not written by the benchmark, so it is not overwritten. "
                "Pass another `--out`."
            )
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out.parent):
            pass
    except OSError as error:
        return f"cannot write in {out.parent} ({error.strerror or error})."
    return None
