"""Fail when pip would change, or has changed, a package of Colab's runtime.

    python .ci/colab/compare.py FREEZE REPORT.json   # pip install --dry-run --report REPORT.json
    pip list --format=freeze | python .ci/colab/compare.py FREEZE -

FREEZE is Colab's pip freeze (.ci/colab/pip-freeze.txt). With a pip installation report,
every package pip would install must be missing from FREEZE or have FREEZE's version; with a
listing on stdin, every installed package that FREEZE names must have FREEZE's version. Prints
one line per package that is added or changed and exits with status 1 on a change.
"""

import json
import re
import sys


def _name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(lines) -> dict[str, str]:
    pins = {}
    for line in lines:
        line = line.strip()
        if line and not line.startswith("#") and "==" in line:
            name, version = line.split("==", 1)
            pins[_name(name)] = version
    return pins


def main(freeze_path: str, source: str) -> int:
    with open(freeze_path, encoding="utf-8") as fh:
        colab = _pins(fh)
    if source == "-":
        found = _pins(sys.stdin)
        found = {name: v for name, v in found.items() if name in colab}
        verb = "installed"
    else:
        with open(source, encoding="utf-8") as fh:
            report = json.load(fh)
        found = {
            _name(item["metadata"]["name"]): item["metadata"]["version"]
            for item in report["install"]
        }
        verb = "would install"
    changed = {name: v for name, v in found.items() if name in colab and colab[name] != v}
    for name, version in sorted(found.items()):
        if name in changed:
            print(f"CHANGED  {name} {colab[name]} -> {version}")
        elif name not in colab:
            print(f"added    {name} {version}")
    kept = sum(name in colab for name in found) - len(changed)
    print(f"{verb}: {len(found)} packages; {kept} at Colab's version, {len(changed)} changed")
    return 1 if changed else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
