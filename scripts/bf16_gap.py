"""The bf16 proxy gap: fp32 master weights against bf16-stored weights written back by round-to-nearest (the PRX bug),
stochastic rounding or Kahan summation, on the CPU proxy, >= 2 seeds, short runs (`prx_nb.proxy.seed_study`).

    OMP_NUM_THREADS=1 python scripts/bf16_gap.py --steps 400 --lr 1e-4 --seeds 0 1 --out nbs/results/bf16_gap.json
    python scripts/bf16_gap.py --tiny --steps 6 --n 4 --out /tmp/bf16_gap.json      # the chapter's quick twin

Each recipe is a config file of configs/cpu (bf16-*.toml are the baseline plus one change), all with the same
overrides (`--lr`: PRX's 1e-4 makes AdamW's steps small against the weights, where bf16 storage loses them).
Reports, per recipe and seed, the mean training loss over the last quarter of the steps (the same batches and noise
for every recipe of a seed) and the proxy's metrics of the last checkpoint (EMA weights).
"""
import argparse
import json
import time
from pathlib import Path

import torch

from prx_nb.config import load_config
from prx_nb.proxy import (PRIMARY_METRIC, config_flops_per_sample, read_run, seed_study, seed_summary, study_table,
                          training_tflop)

ROOT = Path(__file__).resolve().parent.parent
RECIPES = {"fp32": "baseline.toml", "bf16": "bf16-weights.toml", "stochastic": "bf16-stochastic.toml",
           "kahan": "bf16-kahan.toml"}
TINY = {"fp32": [], "bf16": ["train.weights_dtype=bfloat16"],            # same rows on the tiny test config
        "stochastic": ["train.weights_dtype=bfloat16", "optim.bf16_update=stochastic"],
        "kahan": ["train.weights_dtype=bfloat16", "optim.bf16_update=kahan"]}

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--steps", type=int, default=400)
parser.add_argument("--lr", type=float, default=1e-4)
parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
parser.add_argument("--n", type=int, default=128, help="evaluation samples per checkpoint")
parser.add_argument("--root", default="/tmp/bf16_gap_runs")
parser.add_argument("--tiny", action="store_true", help="configs/tiny/base.toml instead of configs/cpu (plumbing check)")
parser.add_argument("--out", required=True, help="JSON file to write")
args = parser.parse_args()
torch.set_num_threads(1)

common = [f"optim.lr={args.lr}", "train.log_every=1"]
if args.tiny:
    recipes = {name: (ROOT / "configs/tiny/base.toml", [*extra, *common]) for name, extra in TINY.items()}
else:
    recipes = {name: (ROOT / "configs/cpu" / file, common) for name, file in RECIPES.items()}
path, overrides = recipes["fp32"]
cfg = load_config(path, overrides)
tflop = training_tflop(args.steps, cfg.train.batch_size, config_flops_per_sample(cfg))
start = time.perf_counter()
study = seed_study(recipes, args.seeds, tflop, args.root, n=args.n)
loss, curves = {}, {}
for name in recipes:   # the training loss, read back from each run's log
    runs = [read_run(Path(args.root) / name / f"seed{seed}") for seed in args.seeds]
    losses = [[r["loss"] for r in sorted(run.history, key=lambda r: r["step"])][-args.steps:] for run in runs]
    tail = max(1, args.steps // 4)
    loss[name] = [sum(l[-tail:]) / tail for l in losses]
    window = max(1, args.steps // 20)
    curves[name] = [[sum(l[i:i + window]) / window for i in range(0, len(l) - window + 1, window)] for l in losses]
    for run, value in zip(study[name]["runs"], loss[name]):
        run["final_loss"] = value
    study[name]["summary"] = seed_summary(study[name]["runs"])
print(study_table(study, ["final_loss", PRIMARY_METRIC, "judge_mmd", "main_object_accuracy", "caption_accuracy"]))
result = {"config": {"steps": args.steps, "lr": args.lr, "seeds": args.seeds, "n": args.n, "tiny": args.tiny,
                     "recipes": {k: [str(Path(p).relative_to(ROOT)), o] for k, (p, o) in recipes.items()},
                     "tflop": tflop, "loss_tail_steps": max(1, args.steps // 4), "curve_window": max(1, args.steps // 20)},
          "seconds": time.perf_counter() - start, "study": study, "curves": curves}
Path(args.out).parent.mkdir(parents=True, exist_ok=True)
Path(args.out).write_text(json.dumps(result, indent=1))
print(f"wrote {args.out} ({result['seconds']:.0f} s)")
