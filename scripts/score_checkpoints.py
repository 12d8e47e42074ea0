"""Score checkpoints on more evaluation samples than training used, and keep the metrics in a small JSON a chapter reads.

    OMP_NUM_THREADS=1 python scripts/score_checkpoints.py nbs/results/proxy_sharp.json --n 1024 \
        --note "what these checkpoints are" NAME=CHECKPOINT [NAME=CHECKPOINT ...]

Each checkpoint is sampled with its run's eval settings on the first `n` items of its run's evaluation split
(`prx_nb.proxy.score_checkpoint`); the file keeps, per name, the checkpoint's path, step and training seed (from its
state.json) and every metric.
Names already in OUT are kept unless scored again, so checkpoints can be added one run at a time.
"""
import argparse
import json
from pathlib import Path

from prx_nb.checkpoints import checkpoint_path
from prx_nb.proxy import score_checkpoint

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("out")
parser.add_argument("checkpoints", nargs="+", help="NAME=CHECKPOINT (a checkpoint folder, or a run folder: its latest)")
parser.add_argument("--n", type=int, default=1024)
parser.add_argument("--metrics", nargs="+", default=["main_object_accuracy", "attribute_accuracy", "caption_accuracy",
                                                     "error_breakdown", "judge_fid", "judge_mmd"])
parser.add_argument("--note", default="")
args = parser.parse_args()

out = Path(args.out)
stored = json.loads(out.read_text()) if out.is_file() else {"note": "", "checkpoints": {}}
stored["note"] = args.note or stored["note"]
for spec in args.checkpoints:
    name, sep, folder = spec.partition("=")
    if not sep:
        raise SystemExit(f"{spec!r}: expected NAME=CHECKPOINT")
    path = checkpoint_path(folder)
    state = json.loads((path / "state.json").read_text())
    scores = score_checkpoint(path, n=args.n, metrics=args.metrics)
    stored["checkpoints"][name] = {"path": str(path), "step": state["step"], "seed": state["config"]["train"]["seed"],
                                   "n": args.n, "metrics": {k: v for k, v in scores.items() if k != "seconds"}}
    print(f"{name}: {path}, {scores['seconds']:.0f} s")
    out.write_text(json.dumps(stored, indent=1) + "\n")
