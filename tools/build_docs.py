"""Build the documentation site offline: nbdev-processed notebooks -> static HTML, one page per chapter.

Quarto renders the site where it is installed (`nbdev-docs`, and the GitHub workflow). This is the
stand-in for machines without it: it uses the same processed notebooks (`nbdev-proc-nbs`: show_doc
API sections, hidden cells removed), nbconvert's HTML exporter, MathML for math (no CDN needed),
and a sidebar from nbs/sidebar.yml.

python tools/build_docs.py --out _site
"""
from __future__ import annotations

import argparse
import html
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import yaml
from latex2mathml.converter import convert as latex_to_mathml
from nbconvert import HTMLExporter
from nbconvert.preprocessors import TagRemovePreprocessor

ROOT = Path(__file__).resolve().parents[1]
NBS, PROC = ROOT / "nbs", ROOT / "_proc"
MATH = re.compile(r"\$\$(.+?)\$\$|(?<![\\$\w])\$(?!\s)(.+?)(?<![\s\\])\$(?!\w)", re.S)
CODE = re.compile(r"(```.*?```|`[^`\n]*`)", re.S)


def sidebar_pages(sidebar: Path = NBS / "sidebar.yml") -> list[tuple[str | None, str]]:
    "(section, notebook) pairs in reading order from Quarto's sidebar.yml."
    def walk(items, section=None):
        for item in items:
            if isinstance(item, str):
                yield section, item
            else:
                yield from walk(item.get("contents", []), item.get("section"))
    return list(walk(yaml.safe_load(sidebar.read_text())["website"]["sidebar"]["contents"]))


def math_to_mathml(markdown: str) -> str:
    "Replace $...$ and $$...$$ outside code spans with MathML, which browsers render without scripts."
    def convert(match):
        block, inline = match.group(1), match.group(2)
        try:
            return latex_to_mathml((block or inline).strip(), display="block" if block else "inline")
        except Exception:  # leave anything the converter cannot parse as written
            return match.group(0)
    parts = CODE.split(markdown)
    return "".join(p if i % 2 else MATH.sub(convert, p) for i, p in enumerate(parts))


def cell_options(source: str) -> dict[str, str]:
    "Quarto cell options (`#| key: value`) at the top of a processed code cell."
    options = {}
    for line in source.splitlines():
        if not line.startswith("#|"):
            break
        key, _, value = line[2:].partition(":")
        options[key.strip()] = value.strip()
    return options


def prepare(nb) -> tuple[str, str]:
    "Apply the processed notebook's cell options in place; return its title and description."
    front = next((c for c in nb.cells if c.cell_type == "raw" and c.source.startswith("---")), None)
    meta = yaml.safe_load(front.source.strip().strip("-")) if front else {}
    cells = []
    for cell in nb.cells:
        if cell is front:
            continue
        cell.pop("has_sd", None)               # nbdev's own keys: not in the notebook schema
        cell.metadata.pop("execution", None)
        if cell.cell_type == "markdown":
            cell.source = re.sub(r"\]\((\w[\w-]*)\.ipynb\)", r"](\1.html)", math_to_mathml(cell.source))
        elif cell.cell_type == "code":
            options = cell_options(cell.source)
            if options.get("include") == "false":
                continue
            cell.source = "\n".join(l for l in cell.source.splitlines() if not l.startswith("#|")).strip()
            tags = set(cell.metadata.get("tags", []))
            if options.get("echo") == "false" or not cell.source:
                tags.add("remove_input")
            if options.get("output") == "false":
                tags.add("remove_output")
            cell.metadata["tags"] = sorted(tags)
            for out in cell.get("outputs", []):
                if "text/markdown" in out.get("data", {}):
                    out["data"]["text/markdown"] = math_to_mathml(out["data"]["text/markdown"])
                    out["data"].pop("text/plain", None)
        cells.append(cell)
    nb.cells = cells
    return meta.get("title", ""), meta.get("description", "")


def page_html(body: str, title: str, description: str, nav: str) -> str:
    "Wrap nbconvert's page body in the site layout: sidebar, title, description."
    head = '<link rel="stylesheet" href="styles.css">'
    body = re.sub(r"<body([^>]*)>", lambda m: f'<body{m.group(1)} class="prx-doc">{nav}<main class="prx-main">'
                  f'<h1 class="page-title">{html.escape(title)}</h1><div class="description">{html.escape(description)}</div>',
                  body, count=1)
    body = body.replace("</body>", "</main></body>", 1)
    body = re.sub(r"<title>.*?</title>", f"<title>{html.escape(title)} – prx_nb</title>", body, count=1, flags=re.S)
    return body.replace("</head>", head + "</head>", 1)


def navigation(pages: list[tuple[str | None, str, str]], active: str) -> str:
    "The sidebar: the site name, then each section's pages."
    out, section = ['<nav class="prx-sidebar"><a class="brand" href="index.html">prx_nb</a>'], None
    for sec, stem, title in pages:
        if sec != section and sec:
            out.append(f'<div class="section">{html.escape(sec)}</div>')
        section = sec
        cls = "page active" if stem == active else "page"
        out.append(f'<a class="{cls}" href="{stem}.html">{html.escape(title)}</a>')
    return "".join(out) + "</nav>"


def build(out: Path, process: bool = True, only: str | None = None) -> list[Path]:
    "Build the site into `out` (only notebooks whose name matches the regex `only`, if given); returns the pages."
    if process:
        select = ["--file-re", only] if only else []
        subprocess.run([str(Path(sys.executable).with_name("nbdev-proc-nbs")), *select], cwd=ROOT, check=True)
    exporter = HTMLExporter(template_name="lab", exclude_input_prompt=True, exclude_output_prompt=True)
    exporter.register_preprocessor(TagRemovePreprocessor(remove_input_tags={"remove_input"},
                                                         remove_all_outputs_tags={"remove_output"}), enabled=True)
    notebooks = [(sec, nb) for sec, nb in sidebar_pages()
                 if (PROC / nb).exists() and (only is None or re.search(only, nb))]
    prepared = {}
    for sec, name in notebooks:
        nb = nbformat.read(PROC / name, as_version=4)
        title, description = prepare(nb)
        prepared[name] = (nb, title or name, description)
    pages = [(sec, Path(name).stem, "Overview" if name == "index.ipynb" else prepared[name][1]) for sec, name in notebooks]
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(NBS / "styles.css", out / "styles.css")
    written = []
    for sec, name in notebooks:
        nb, title, description = prepared[name]
        body, _ = exporter.from_notebook_node(nb)
        path = out / f"{Path(name).stem}.html"
        path.write_text(page_html(body, title, description, navigation(pages, Path(name).stem)))
        written.append(path)
    return written


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "_site")
    parser.add_argument("--no-process", action="store_true", help="reuse _proc/ from an earlier nbdev-proc-nbs")
    parser.add_argument("--only", help="regex: build only the notebooks whose file name matches")
    args = parser.parse_args()
    for page in build(args.out, process=not args.no_process, only=args.only):
        print(page.relative_to(ROOT) if page.is_relative_to(ROOT) else page)
