"""Run chapters and store their outputs, so readers and the docs see figures without running anything.

Uses nbdev's own test runner (the same skip flags as `nbdev-test`), with figures stored as plain PNG
rather than execnb's default 2x "retina" images, which would double each notebook's size.

python tools/save_outputs.py [--run-slow | --slow-cell ID ...] nbs/00_flow.ipynb [more notebooks ...]

`--run-slow` also runs the `#| slow` cells (full-size experiments), so their figures and numbers are stored
for readers; `nbdev-test` still skips them. `--slow-cell ID` (repeatable) runs only the slow cells with those ids
and keeps the stored outputs of the others (an experiment re-run without re-measuring its neighbours).
"""
from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import nbdev.test
from execnb.shell import CaptureShell
from nbdev.config import get_config

MAX_BYTES = 1_000_000


SLOW, CHOSEN = "#| slow\n", "#| slow-chosen\n"    # a chosen slow cell runs under a flag nothing skips


def _relabel(notebook: Path, cell_ids: set[str], old: str, new: str) -> set[str]:
    "Swap the first line `old` for `new` in the cells `cell_ids`; returns the ids it changed."
    nb = json.loads(notebook.read_text())
    changed = set()
    for cell in nb["cells"]:
        if cell.get("id") in cell_ids and cell["source"][:1] == [old]:
            cell["source"][0] = new
            changed.add(cell["id"])
    notebook.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    return changed


def save_outputs(notebook: Path, run_slow: bool = False, slow_cells: frozenset[str] = frozenset()) -> tuple[bool, float]:
    "Execute `notebook` (skipping flagged cells) and write its outputs back; returns (success, seconds)."
    nbdev.test.CaptureShell = functools.partial(CaptureShell, mpl_format="png")
    skip = [f for f in get_config().tst_flags.split() if not (run_slow and f == "slow")]
    chosen = _relabel(notebook, set(slow_cells), SLOW, CHOSEN) if slow_cells else set()
    if missing := set(slow_cells) - chosen:
        _relabel(notebook, chosen, CHOSEN, SLOW)
        raise SystemExit(f"{notebook}: no '#| slow' cell with id {sorted(missing)}")
    try:   # full-size experiments run for longer than nbdev's default 600 s per cell
        return nbdev.test.test_nb(notebook, skip_flags=skip, save=True,
                                  cell_timeout=None if run_slow or chosen else 600)
    finally:
        _relabel(notebook, chosen, CHOSEN, SLOW)


def main(args: list[str]) -> int:
    run_slow = "--run-slow" in args
    slow_cells = frozenset(args[i + 1] for i, a in enumerate(args) if a == "--slow-cell")
    paths = [a for i, a in enumerate(args) if a != "--run-slow" and a != "--slow-cell" and args[i - 1:i] != ["--slow-cell"]]
    failed = False
    for path in (Path(p).resolve() for p in paths):
        ok, seconds = save_outputs(path, run_slow, slow_cells)
        size = path.stat().st_size
        print(f"{path}: {'ok' if ok else 'FAILED'} in {seconds:.0f} s, {size / 1e3:.0f} kB")
        failed |= not ok or size > MAX_BYTES
        if size > MAX_BYTES:
            print(f"{path}: over {MAX_BYTES / 1e6:.0f} MB: shrink its figures or outputs", file=sys.stderr)
    return int(failed)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
