"""REPA on the CPU proxy: REPA, iREPA, REPA as a burn-in and REPA with the weak teacher, every seed, evaluated along the way.

    OMP_NUM_THREADS=1 python scripts/repa_proxy.py --root /tmp/repa_runs --json nbs/results/repa_proxy.json

Each run trains configs/cpu/<recipe>.toml with the recipe of the stored baseline runs (nbs/results/muon_sweep.json,
AdamW at lr 1e-3: `--steps` steps, evaluated every `--every` steps on `--n` samples), the burn-in stopping alignment at
`--stop` steps. The baseline's runs are copied from that file, not retrained: same config, overrides and seeds. Finished
runs (their last evaluation logged) are read back, so an interrupted study resumes. Each run is also scored with the
random-net MMD of its last checkpoint (`prx_nb.proxy.score_checkpoint`), as the baseline was.
"""
import argparse
import json
from pathlib import Path

import torch

from prx_nb.config import load_config
from prx_nb.proxy import read_run, score_checkpoint, train_minutes
from prx_nb.train import train

ROOT = Path(__file__).resolve().parent.parent
RECIPES = ("repa", "irepa", "repa-burnin", "repa-weak")

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--root", default="/tmp/repa_runs")
parser.add_argument("--recipes", nargs="+", default=list(RECIPES))
parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
parser.add_argument("--steps", type=int, default=800)
parser.add_argument("--every", type=int, default=200)
parser.add_argument("--stop", type=int, default=400, help="burn-in: last step + 1 with alignment")
parser.add_argument("--n", type=int, default=128, help="evaluation samples")
parser.add_argument("--baseline", default=str(ROOT / "nbs" / "results" / "muon_sweep.json"))
parser.add_argument("--json", help="write the study here")
args = parser.parse_args()
torch.set_num_threads(1)

stored = json.loads(Path(args.baseline).read_text())
if (stored["steps"], stored["every"]) != (args.steps, args.every):
    raise SystemExit(f"{args.baseline}: its baseline ran {stored['steps']} steps evaluated every {stored['every']}")
runs = [{**{k: r[k] for k in ("seed", "minutes", "evals", "final_loss", "random_mmd")}, "recipe": "baseline",
         "source": Path(args.baseline).name}
        for r in stored["runs"] if r["optimizer"] == "adamw" and r["lr"] == 1e-3 and r["seed"] in args.seeds]
for seed in args.seeds:                  # seed-major: a first comparison lands after one pass over the recipes
    for recipe in args.recipes:
        out = Path(args.root) / f"{recipe}-seed{seed}"
        overrides = ["optim.lr=1e-3", f"train.seed={seed}", f"train.steps={args.steps}", f"train.out_dir={out}",
                     f"eval.every={args.every}", f"eval.n_samples={args.n}", "train.ckpt_every=0", "train.progress=false"]
        if recipe == "repa-burnin":
            overrides.append(f"techniques.repa.stop_step={args.stop}")
        done = (out / "eval.jsonl").is_file() and any(r["step"] == args.steps for r in read_run(out).evals)
        if not done:
            train(load_config(ROOT / "configs" / "cpu" / f"{recipe}.toml", overrides))
        run = read_run(out)
        tail = [r["loss"] for r in run.history if r["step"] > 0.9 * args.steps]      # the last 10% of the steps
        runs.append({"recipe": recipe, "seed": seed, "minutes": train_minutes(run.history, run.cfg.train.batch_size),
                     "evals": run.evals, "final_loss": sum(tail) / len(tail),
                     "random_mmd": score_checkpoint(out, n=args.n, metrics=("judge_mmd",))["random_mmd"]})
        print(json.dumps({k: runs[-1][k] for k in ("recipe", "seed", "minutes", "random_mmd")}
                         | {k: run.evals[-1].get(k) for k in ("judge_fid", "caption_accuracy")}), flush=True)
        if args.json:
            Path(args.json).write_text(json.dumps({"steps": args.steps, "every": args.every, "stop": args.stop,
                                                   "n": args.n, "runs": runs}, indent=1))
