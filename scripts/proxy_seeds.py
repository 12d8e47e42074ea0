"""The proxy's seed study: recipes x seeds at one training budget, each last checkpoint scored (`prx_nb.proxy.seed_study`).

    python scripts/proxy_seeds.py --tflop 30 --seeds 0 1 2 --root /tmp/proxy_runs/seeds
    python scripts/proxy_seeds.py --tflop 30 --seeds 1 --only baseline --root /tmp/proxy_runs/seeds   # one run per process

Recipes: the CPU baseline and two clearly worse rows (short captions, bf16 stored weights). Finished run folders are
read back, not retrained, so runs started in parallel processes (OMP_NUM_THREADS=1 each) are summarised by a last
call without --only. Prints the table of `prx_nb.proxy.study_table` and writes the study as JSON with --json.
"""
import argparse
import json
from pathlib import Path

from prx_nb.proxy import seed_study, study_table

CONFIGS = Path(__file__).resolve().parent.parent / "configs" / "cpu"
RECIPES = {"baseline": (CONFIGS / "baseline.toml", []), "short-captions": (CONFIGS / "short-captions.toml", []),
           "bf16-weights": (CONFIGS / "bf16-weights.toml", [])}

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--tflop", type=float, default=30.0)
parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
parser.add_argument("--root", default="/tmp/proxy_runs/seeds")
parser.add_argument("--only", nargs="+", choices=sorted(RECIPES), help="recipes to run (default: all)")
parser.add_argument("--n", type=int, default=128, help="evaluation samples per checkpoint")
parser.add_argument("--json", help="write the study here")
args = parser.parse_args()

study = seed_study({k: v for k, v in RECIPES.items() if not args.only or k in args.only}, args.seeds, args.tflop,
                   args.root, n=args.n)
print(study_table(study))
if args.json:
    Path(args.json).write_text(json.dumps(study, indent=1))
