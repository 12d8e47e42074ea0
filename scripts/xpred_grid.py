"""The x-prediction chapter's study (nbs/11_xpred.ipynb): JiT's 3 x 3 grid on the shapes proxy, and a bottleneck sweep.

    OMP_NUM_THREADS=1 python scripts/xpred_grid.py --out nbs/results/xpred_grid.json              # everything
    OMP_NUM_THREADS=1 python scripts/xpred_grid.py --only large --seeds 0 --out /tmp/g.json       # one part

Every run is `configs/cpu/x-pred-grid.toml` plus the overrides of `prx_nb.xpred.grid_overrides`, trained by
`prx_nb.train.train`; its last checkpoint is scored by `prx_nb.proxy.score_checkpoint` (128 samples: the judge
metrics, and the MMD on a fixed random conv net, which sees leftover noise that the noise-robust judge may not).
Finished run folders under --root are read back, not retrained. The JSON is rewritten after every run, so an
interrupted study keeps what it has; parts run separately are merged into the same file.
"""
import argparse
import json
import time
from pathlib import Path

import torch

from prx_nb.config import load_config
from prx_nb.plugins import first_line
from prx_nb.proxy import read_run, score_checkpoint, seed_summary, train_minutes
from prx_nb.train import NonFiniteLossError, train
from prx_nb.xpred import EXPERIMENTS, grid_overrides, run_name

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "cpu" / "x-pred-grid.toml"

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--out", default="nbs/results/xpred_grid.json")
parser.add_argument("--root", default="/tmp/xpred_runs")
parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
parser.add_argument("--only", nargs="+", choices=sorted(EXPERIMENTS), help="experiments to run (default: all)")
parser.add_argument("--n", type=int, default=128, help="evaluation samples per run")
parser.add_argument("--threads", type=int, default=1, help="torch threads (one per process on a shared machine)")
args = parser.parse_args()
torch.set_num_threads(args.threads)

out = Path(args.out)
study = json.loads(out.read_text()) if out.is_file() else {"config": CONFIG.name, "experiments": {}}
for name in args.only or EXPERIMENTS:
    experiment = EXPERIMENTS[name]
    entry = study["experiments"].setdefault(name, {"recipes": {}})
    entry["about"] = experiment["about"]
    for recipe, changes in experiment["recipes"].items():
        runs = []
        for seed in args.seeds:
            recipe_overrides = grid_overrides(**experiment["base"], **changes)
            folder = Path(args.root) / run_name(recipe_overrides) / f"seed{seed}"   # identical recipes share runs
            # scored once, after training, by score_checkpoint (so no evaluation inside the run)
            cfg = load_config(CONFIG, [*recipe_overrides, "eval.every=0", f"train.seed={seed}", f"train.out_dir={folder}"])
            scored, start, status = folder / "score.json", time.perf_counter(), "ok"
            if not scored.is_file():
                if not (folder / "checkpoints" / f"step_{cfg.train.steps:07d}").is_dir():
                    try:
                        train(cfg)
                    except NonFiniteLossError:
                        status = "nonfinite"
                if status == "ok":
                    try:
                        scored.write_text(json.dumps(score_checkpoint(folder, n=args.n)))
                    except (ValueError, RuntimeError) as e:        # e.g. non-finite samples
                        status = f"unscored: {first_line(e)[:80]}"
            run = read_run(folder)
            score = json.loads(scored.read_text()) if scored.is_file() else {}
            runs.append({"seed": seed, "status": status, "wall_s": time.perf_counter() - start,
                         "steps": cfg.train.steps, "tflop": run.tflop(cfg.train.steps),
                         "train_s": 60 * train_minutes(run.history, cfg.train.batch_size),
                         "final_loss": run.history[-1]["loss"] if run.history else None,
                         **{k: v for k, v in score.items() if isinstance(v, (int, float))}})
            print(f"{name:10s} {recipe:8s} seed {seed}: {status}, {runs[-1]['wall_s']:.0f} s, "
                  f"judge_fid {runs[-1].get('judge_fid', float('nan')):.4f}, "
                  f"random_mmd {runs[-1].get('random_mmd', float('nan')):.4f}, "
                  f"caption_accuracy {runs[-1].get('caption_accuracy', float('nan')):.3f}", flush=True)
            ok = [r for r in runs if r["status"] == "ok"]
            entry["recipes"][recipe] = {"overrides": recipe_overrides, "runs": runs,
                                        "summary": seed_summary(ok) if ok else {}}
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(study, indent=1))
