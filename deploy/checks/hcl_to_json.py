"""Parses every *.tf file of a folder, or one HCL file, with python-hcl2; runs in
.careplan/tools/venv.

    hcl_to_json.py deploy/terraform   ->   {"<file name>": <parsed file>, ...} on stdout
    hcl_to_json.py docker-bake.hcl    ->   {"docker-bake.hcl": <parsed file>} on stdout

A file that does not parse makes the script exit 1 and name it on stderr.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import hcl2


def main() -> int:
    given = Path(sys.argv[1])
    paths = [given] if given.is_file() else sorted(given.glob("*.tf"))
    parsed: dict[str, object] = {}
    failed = False
    for path in paths:
        try:
            with path.open(encoding="utf-8") as handle:
                parsed[path.name] = hcl2.load(handle)
        except Exception as error:
            sys.stderr.write(f"{path}: {type(error).__name__}: {error}\n")
            failed = True
    json.dump(parsed, sys.stdout, indent=1, default=str)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
