"""Write README.md from nbs/index.ipynb: the offline stand-in for `nbdev-readme`, which needs Quarto.

python tools/readme.py           # regenerate README.md
python tools/readme.py --check   # exit 1 when README.md differs from what index.ipynb gives
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTICE = "<!-- Generated from nbs/index.ipynb by tools/readme.py: edit the notebook, not this file. -->"


def directives(source: str) -> list[str]:
    "The nbdev `#|` directive lines at the top of a code cell."
    return [line[2:].strip() for line in source.splitlines() if line.startswith("#|")]


def cell_markdown(cell) -> str | None:
    "A notebook cell as README Markdown: Markdown as is, visible code as a Python block, hidden cells dropped."
    if cell.cell_type == "markdown":
        return cell.source
    if cell.cell_type != "code" or any(d in ("hide", "exporti") or d.startswith("default_exp") for d in directives(cell.source)):
        return None
    code = "\n".join(line for line in cell.source.splitlines() if not line.startswith("#|")).strip()
    return f"```python\n{code}\n```" if code else None


def render_readme(index: Path = ROOT / "nbs" / "index.ipynb") -> str:
    "README text for `index`: its cells in order, with chapter links pointing into nbs/."
    nb = nbformat.read(index, as_version=4)
    text = "\n\n".join(md for cell in nb.cells if (md := cell_markdown(cell)))
    text = re.sub(r"\]\((\w[\w-]*\.ipynb)\)", r"](nbs/\1)", text)
    return f"{NOTICE}\n\n{text}\n"


def main(argv: list[str]) -> int:
    readme, expected = ROOT / "README.md", render_readme()
    if "--check" in argv:
        if not readme.exists() or readme.read_text() != expected:
            print("README.md is out of date with nbs/index.ipynb: run `python tools/readme.py`", file=sys.stderr)
            return 1
        return 0
    readme.write_text(expected)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
