"""The proxy's seed study: rows of the logbook with more seeds, at the logbook preset's budget (`prx_nb.logbook`).

    OMP_NUM_THREADS=1 python scripts/proxy_seeds.py --seeds 0 1 2 --json nbs/results/proxy_seeds.json

Runs go into the logbook's output folder (default logbook/full), so the seeds the full preset already trained are read
back, not retrained (same config, same hash). Prints mean +- std of every logged metric per row, and each row's
separation from the baseline (difference / the larger seed std); --json writes both and every seed's final metrics.
"""
import argparse
import dataclasses
import json
from pathlib import Path

from prx_nb.logbook import job_for, load_manifest, run_jobs, summarize
from prx_nb.proxy import PROXY_METRICS

ROOT = Path(__file__).resolve().parent.parent
parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--rows", nargs="+", default=["baseline", "Short captions", "x-prediction in pixels (JiT regime)",
                                                  "BF16 stored weights"])
parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
parser.add_argument("--preset", default="full")
parser.add_argument("--manifest", default=str(ROOT / "configs" / "logbook.toml"))
parser.add_argument("--out", default=str(ROOT / "logbook" / "full"))
parser.add_argument("--workers", type=int, default=1)
parser.add_argument("--json", help="write the study here")
args = parser.parse_args()

presets, rows = load_manifest(args.manifest)
preset = dataclasses.replace(presets[args.preset], seeds=tuple(args.seeds))
chosen = [r for r in rows if r.name in args.rows]
records = run_jobs([job_for(r, preset, s, Path(args.out)) for r in chosen for s in preset.seeds], args.workers)
runs = {r.name: sorted((x for x in records if x["row"] == r.name), key=lambda x: x["seed"]) for r in chosen}
study = {name: summarize(rs) | {"per_seed": [x["metrics"] for x in rs]} for name, rs in runs.items()}
base = study[chosen[0].name]
keys = [k for k in PROXY_METRICS if k in base]
for name, s in study.items():
    s["separation"] = {k: abs(s[k][0] - base[k][0]) / max(s[k][1], base[k][1], 1e-12) for k in keys} if s is not base else {}
print(f"{preset.tflop} TFLOP per run, seeds {list(preset.seeds)}, {preset.eval_samples} evaluation samples")
print(f"{'metric':28s}" + "".join(f"{name[:22]:>24s}" for name in study))
for k in keys:
    print(f"{k:28s}" + "".join(f"{s[k][0]:>12.3f} +- {s[k][1]:.3f}" + (f" ({s['separation'][k]:.1f})" if s["separation"] else "      ")
                               for s in study.values()))
if args.json:
    Path(args.json).write_text(json.dumps({"preset": args.preset, "tflop": preset.tflop, "seeds": list(preset.seeds),
                                           "eval_samples": preset.eval_samples, "rows": study}, indent=1))
