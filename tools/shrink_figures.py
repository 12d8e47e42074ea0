"""Shrink stored PNG outputs of notebooks (256-colour palette, optimised), keeping each chapter well under 1 MB.

python tools/shrink_figures.py nbs/09_train.ipynb [more notebooks ...]
"""
import base64
import io
import sys

import nbformat
from PIL import Image


def shrink_png(data: str) -> str:
    "A base64 PNG re-encoded with an adaptive 256-colour palette, or the original when that is not smaller."
    image = Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB")
    buffer = io.BytesIO()
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(buffer, "PNG", optimize=True)
    small = base64.b64encode(buffer.getvalue()).decode()
    return small if len(small) < len(data) else data


def main(paths: list[str]) -> int:
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        before = after = 0
        for cell in nb.cells:
            for output in cell.get("outputs", []):
                data = output.get("data", {})
                if "image/png" in data:
                    before += len(data["image/png"])
                    data["image/png"] = shrink_png(data["image/png"])
                    after += len(data["image/png"])
        nbformat.write(nb, path)
        print(f"{path}: figures {before / 1e3:.0f} kB -> {after / 1e3:.0f} kB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
