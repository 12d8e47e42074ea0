"""Run chapters and store their outputs, so readers and the docs see figures without running anything.

Uses nbdev's own test runner (the same skip flags as `nbdev-test`), with figures stored as plain PNG
rather than execnb's default 2x "retina" images, which would double each notebook's size.

python tools/save_outputs.py [--run-slow] nbs/00_flow.ipynb [more notebooks ...]

`--run-slow` also runs the `#| slow` cells (full-size experiments), so their figures and numbers are stored
for readers; `nbdev-test` still skips them.
"""
from __future__ import annotations

import functools
import sys
from pathlib import Path

import nbdev.test
from execnb.shell import CaptureShell
from nbdev.config import get_config

MAX_BYTES = 1_000_000


def save_outputs(notebook: Path, run_slow: bool = False) -> tuple[bool, float]:
    "Execute `notebook` (skipping flagged cells) and write its outputs back; returns (success, seconds)."
    nbdev.test.CaptureShell = functools.partial(CaptureShell, mpl_format="png")
    skip = [f for f in get_config().tst_flags.split() if not (run_slow and f == "slow")]
    # full-size experiments run for longer than nbdev's default 600 s per cell
    return nbdev.test.test_nb(notebook, skip_flags=skip, save=True, cell_timeout=None if run_slow else 600)


def main(args: list[str]) -> int:
    run_slow = "--run-slow" in args
    failed = False
    for path in (Path(p).resolve() for p in args if p != "--run-slow"):
        ok, seconds = save_outputs(path, run_slow)
        size = path.stat().st_size
        print(f"{path}: {'ok' if ok else 'FAILED'} in {seconds:.0f} s, {size / 1e3:.0f} kB")
        failed |= not ok or size > MAX_BYTES
        if size > MAX_BYTES:
            print(f"{path}: over {MAX_BYTES / 1e6:.0f} MB: shrink its figures or outputs", file=sys.stderr)
    return int(failed)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
