"""The command line: ``python -m cnnkit {doctor,prefetch,mirror,run-notebooks,bench,links}``.

- ``doctor``: report the environment (versions, devices, data folder, modes).
- ``prefetch``: download the real datasets once, before going offline.
- ``mirror``: serve this machine's verified dataset cache to a classroom without internet.
- ``run-notebooks``: dry-run the course headless and write ``build/course/index.html``.
- ``bench``: time the course's models on this machine.
- ``links``: point the notebooks' Colab badges and install lines and the README's launch
  buttons at ``cnnkit.REPO_URL`` (after forking).

Each command imports what it needs only when it runs, so ``--help`` is instant.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]


def _doctor(args: argparse.Namespace) -> int:
    from .env import doctor

    facts = doctor()
    width = max(map(len, facts))
    for key, value in facts.items():
        shown = ", ".join(value) if isinstance(value, list) else value
        print(f"{key:<{width}}  {shown}")
    return 0


def _prefetch(args: argparse.Namespace) -> int:
    from .data import prefetch

    report = prefetch(args.names or None, weights=not args.no_weights)
    return 1 if any(row["status"] == "failed" for row in report) else 0


def _mirror(args: argparse.Namespace) -> int:
    from .data.mirror import mirror_files, serve

    try:
        server = serve(args.port, host=args.host)
    except (ValueError, OSError) as error:
        print(f"cnnkit mirror: {error}", file=sys.stderr)
        return 2
    port = server.server_port
    names = ", ".join(sorted(mirror_files()))
    print(f"Serving {names} on http://{args.host}:{port}/ (Ctrl+C stops).")
    print(f"On each learner's machine: export CNNKIT_MIRROR=http://<this machine's address>:{port}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def _run_notebooks(args: argparse.Namespace) -> int:
    from .course import find_notebooks, run_course, select

    notebooks = select(find_notebooks(args.notebooks), args.only)
    results = run_course(notebooks, args.out, full=args.full, timeout=args.timeout)
    for r in results:
        figure = f"  {r.key_figure}" if r.key_figure else ""
        where = f"code cell {r.failed_cell}: " if r.failed_cell is not None else ""
        problem = f"  {where}{r.error}" if r.error else ""
        problem += f"  ({r.stall_note})" if r.stall_note else ""
        print(
            f"{r.status:<6}  {r.name:<34} {r.seconds:7.1f} s {r.peak_bytes / 1024**2:7,.0f} MiB"
            f"{figure}{problem}"
        )
    print(f"index: {args.out}/index.html")
    return 0 if all(r.ok for r in results) else 1


def _links(args: argparse.Namespace) -> int:
    from .course import find_notebooks, update_links

    stale = update_links(find_notebooks(args.notebooks), args.readme, check=args.check)
    for path in stale:
        print(f"{'points elsewhere' if args.check else 'updated'}: {path}")
    return 1 if stale and args.check else 0


def _bench(args: argparse.Namespace) -> int:
    from .bench import main as bench_main

    return bench_main(args.extra) or 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m cnnkit", description="The cnnkit course kit's command line."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")

    doctor = commands.add_parser("doctor", help="report the environment the notebooks run in")
    doctor.set_defaults(run=_doctor)

    prefetch = commands.add_parser(
        "prefetch",
        help="download the datasets and weights into ~/.keras now, to work offline later",
    )
    prefetch.add_argument("names", nargs="*", help="datasets to fetch (default: all)")
    prefetch.add_argument(
        "--no-weights", action="store_true", help="skip the pretrained weights of notebook 09"
    )
    prefetch.set_defaults(run=_prefetch)

    mirror = commands.add_parser(
        "mirror",
        help="serve this machine's verified dataset cache to a room (CNNKIT_MIRROR on the others)",
    )
    mirror.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    mirror.add_argument(
        "--host", default="0.0.0.0", help="address to listen on (default: every interface)"
    )
    mirror.set_defaults(run=_mirror)

    run = commands.add_parser(
        "run-notebooks",
        help="execute the course notebooks headless and write an index.html",
        description="Execute each notebook in a fresh kernel (fast mode unless --full), save "
        "the executed copies and an index.html with status, wall time, peak memory and key "
        "figure per notebook. A failing notebook does not stop the others.",
    )
    run.add_argument("--full", action="store_true", help="full recipes (CPU or GPU budget)")
    run.add_argument("--only", default=None, help="notebook numbers to run, e.g. 04,06")
    run.add_argument("--out", default="build/course", help="output folder (build/course)")
    run.add_argument("--notebooks", default="notebooks", help="notebook folder (notebooks)")
    run.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="seconds per cell (default: 120 in fast mode, 3600 with --full)",
    )
    run.set_defaults(run=_run_notebooks)

    links = commands.add_parser(
        "links", help="point Colab/Binder links and install lines at cnnkit.REPO_URL"
    )
    links.add_argument("--check", action="store_true", help="only list files to update")
    links.add_argument("--notebooks", default="notebooks", help="notebook folder (notebooks)")
    links.add_argument("--readme", default="README.md", help="README to update (README.md)")
    links.set_defaults(run=_links)

    # Every argument after "bench", --help included, belongs to cnnkit.bench.main.
    bench = commands.add_parser(
        "bench", help="time the course's models on this machine", add_help=False
    )
    bench.set_defaults(run=_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "bench":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra = extra
    try:
        return args.run(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
