"""`switchover deploy-files DIR`: copy the shipped deployment files out of the package.

The systemd units, the supervisord programs, the example configurations for A and B,
deploy/README.md and the shipped hooks (`vip`, `service`) travel inside the wheel as
package data; this puts them where an operator can read and install them (deploy/README.md
says where each goes). Existing files are kept unless `--force`.
"""
from __future__ import annotations

import argparse
import shutil
import sys
from importlib.resources import files
from pathlib import Path

NAME = "deploy-files"
HELP = "copy the shipped systemd units, supervisord programs, example configs and hooks to DIR"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", type=Path, help="where to put them (made if missing)")
    parser.add_argument("--force", action="store_true", help="overwrite files already there")


def execute(args: argparse.Namespace) -> int:
    source = Path(str(files("switchover.deploy")))
    shipped = sorted(p for p in source.rglob("*") if p.is_file()
                     and p.name != "__init__.py" and "__pycache__" not in p.parts)
    targets = [(p, args.dir / p.relative_to(source)) for p in shipped]
    existing = [str(t) for _, t in targets if t.exists()]
    if existing and not args.force:
        print(f"switchover: refused: {len(existing)} file(s) already exist, e.g. {existing[0]}; "
              "use --force to overwrite", file=sys.stderr)
        return 1
    try:
        for src, dst in targets:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)  # keeps the hooks executable
    except OSError as exc:
        print(f"switchover: cannot copy the deploy files to {args.dir}: {exc}", file=sys.stderr)
        return 1
    print(f"{len(targets)} file(s) copied to {args.dir}")
    return 0
