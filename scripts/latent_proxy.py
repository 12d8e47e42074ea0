"""Latent spaces on the CPU proxy: the shapes autoencoders' reconstructions, then the denoiser in each latent space at the
logbook's full preset (4 TFLOP per run, seeds 0 and 1), beside the stored pixel-space rows.

    OMP_NUM_THREADS=1 python scripts/latent_proxy.py --root /tmp/latent_runs --json nbs/results/latent_proxy.json

The cached shapes autoencoders (`prx_nb.autoencoder`) are trained on first use. Each row is trained and evaluated
exactly as the logbook trains its rows (`prx_nb.logbook.job_for` / `run_job` with the `full` preset of
configs/logbook.toml), one run at a time on one thread; finished runs are reused. The pixel baseline (x-prediction)
and pixel v-prediction are not retrained: their numbers are read from logbook/full/results.json, measured with the
same preset. Also writes nbs/results/latent_proxy.png: reconstructions of each autoencoder and the seed-0 samples of
each row.
"""
import argparse
import json
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

from prx_nb import shapes
from prx_nb.autoencoder import (load_shapes_latents, reconstruction_report, shapes_autoencoder, latent_statistics,
                                teacher_probe_r2, training_history)
from prx_nb.latents import KLLatents
from prx_nb.logbook import Row, job_for, load_manifest, run_job, slug, summarize
from prx_nb.repa import load_shapes_teacher

ROOT = Path(__file__).resolve().parent.parent
AUTOENCODERS = ("plain", "aligned", "aligned-encoder")
ROWS = {   # name -> config; every latent row is compared with the plain latent row or the pixel baseline
    "latent (plain AE), x-pred": "cpu/latent.toml",
    "latent (aligned AE, REPA-E), x-pred": "cpu/latent-aligned.toml",
    "latent (aligned AE, encoder REPA), x-pred": "cpu/latent-aligned-encoder.toml",
    "latent (plain AE), v-pred": "cpu/latent-v-pred.toml",
    "latent (aligned AE, REPA-E) + REPA, x-pred": "cpu/latent-aligned-repa.toml",
}
STORED = {"pixel, x-pred (baseline)": "baseline", "pixel, v-pred": "x-prediction (latent, 256)"}   # logbook row names

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--root", default="/tmp/latent_runs")
parser.add_argument("--rows", nargs="+", default=list(ROWS))
parser.add_argument("--preset", default="full")
parser.add_argument("--logbook", default=str(ROOT / "logbook" / "full" / "results.json"))
parser.add_argument("--json", help="write the study here")
parser.add_argument("--figure", default=str(ROOT / "nbs" / "results" / "latent_proxy.png"))
args = parser.parse_args()
torch.set_num_threads(1)

presets, _ = load_manifest(ROOT / "configs" / "logbook.toml")
preset = presets[args.preset]
logbook = json.loads(Path(args.logbook).read_text())
budget = {"tflop": preset.tflop, "seeds": list(preset.seeds), "eval_samples": preset.eval_samples,
          "eval_steps": preset.eval_steps}
if logbook["budget"] != budget:
    raise SystemExit(f"{args.logbook}: measured with {logbook['budget']}, not the {args.preset} preset's {budget}")
stored = {name: next(r for r in logbook["rows"] if r["name"] == row) for name, row in STORED.items()}
out = {"preset": {"name": preset.name, **budget, "evals": preset.evals}, "machine": logbook["machine"],
       "autoencoders": {}, "rows": {}}


def write() -> None:
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))


# 1. the autoencoders: training time, reconstructions read by the judge, linear alignment with the teacher
teacher, judge = load_shapes_teacher("shapes"), shapes.load_judge()
untrained = shapes_autoencoder()
mean, std = latent_statistics(untrained)
untrained.register_to_config(latents_mean=mean.tolist(), latents_std=std.tolist())
spaces = {name: load_shapes_latents(name) for name in AUTOENCODERS}
for name, space in {**spaces, "untrained": KLLatents(untrained)}.items():
    history = training_history(space) if name in spaces else {"seconds": 0.0}
    out["autoencoders"][name] = {"train_seconds": history["seconds"], **reconstruction_report(space, judge=judge),
                                 "teacher_r2": teacher_probe_r2(space, teacher)}
    if name in spaces:
        tail = history["reconstruction"][-100:]
        out["autoencoders"][name]["final_reconstruction_loss"] = sum(tail) / len(tail)
    print(name, json.dumps({k: v for k, v in out["autoencoders"][name].items() if k != "original"}), flush=True)
write()

# 2. the denoiser in each space, at the logbook's budget and protocol
for name, row in stored.items():
    out["rows"][name] = {"config": row["config"], "source": Path(args.logbook).name, "measured": row["measured"]}
rows = [Row(name, {}, ROOT / "configs" / ROWS[name]) for name in args.rows]
records = {row.name: [] for row in rows}
for seed in preset.seeds:            # seed-major: a first comparison lands after one pass over the rows
    for row in rows:
        start = time.perf_counter()
        record = run_job(job_for(row, preset, seed, Path(args.root)))
        records[row.name].append(record)
        print(row.name, seed, f"{time.perf_counter() - start:.0f} s", json.dumps(
            {k: round(record["metrics"].get(k, float("nan")), 4) for k in ("judge_fid", "judge_mmd", "random_mmd",
                                                                           "main_object_accuracy")}), flush=True)
        out["rows"][row.name] = {"config": str(row.config.relative_to(ROOT / "configs")), "source": "this script",
                                 "measured": summarize(records[row.name]),
                                 "runs": [{k: r[k] for k in ("seed", "steps", "tflop", "seconds", "samples_per_s",
                                                             "metrics")} for r in records[row.name]]}
        write()

# 3. figure: originals and each autoencoder's reconstructions (top), seed-0 samples of every row (bottom)
split = shapes.eval_split(8, 0, 32)
with torch.no_grad():
    strip = torch.cat([split.images, *(space.decode(space.encode(split.images)).clamp(-1, 1) for space in spaces.values())], 2)
stored_runs = {json.loads(m.read_text()).get("row"): m.parent
               for m in sorted(Path(args.logbook).parent.glob("runs/*/seed0/logbook.json"))}   # folders follow row renames
folders = {name: stored_runs.get(row, Path("-")) for name, row in STORED.items()}
folders.update({r.name: Path(args.root) / "runs" / slug(r.name) / "seed0" for r in rows})
samples = {}
for name, folder in folders.items():
    marker = folder / "logbook.json"
    if marker.is_file() and (grid := json.loads(marker.read_text()).get("grid")):
        samples[name] = plt.imread(folder / grid)
fig = plt.figure(figsize=(3 * max(len(samples), 3), 7.5), dpi=60)
top = fig.add_subplot(2, 1, 1)
top.imshow(((strip.permute(2, 0, 3, 1).reshape(strip.shape[2], -1, 3) + 1) / 2).numpy(), interpolation="nearest")
top.set(title="rows: eval images, then the reconstructions of the " + ", ".join(AUTOENCODERS) + " autoencoders",
        xticks=[], yticks=[])
for i, (name, image) in enumerate(samples.items()):
    ax = fig.add_subplot(2, len(samples), len(samples) + i + 1)
    ax.imshow(image, interpolation="nearest")
    ax.set(title=name.replace(", ", "\n", 1), xticks=[], yticks=[])
    ax.title.set_fontsize(9)
fig.suptitle(f"Shapes autoencoders and samples at {preset.tflop:g} TFLOP (seed 0)")
fig.tight_layout()
fig.savefig(args.figure, dpi=60)
print("wrote", args.figure)
