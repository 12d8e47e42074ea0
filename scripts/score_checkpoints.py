"""Score checkpoints on more evaluation samples than training used, and keep the metrics in a small JSON a chapter reads.

    OMP_NUM_THREADS=1 python scripts/score_checkpoints.py nbs/results/proxy_sharp.json --n 1024 \
        --note "what these checkpoints are" NAME=CHECKPOINT [NAME=CHECKPOINT ...] [--sampler eval.guidance=5 ...]

Each checkpoint is sampled with its run's eval settings on the first `n` items of its run's evaluation split
(`prx_nb.proxy.score_checkpoint`); the file keeps, per name, the checkpoint's path, step and training seed (from its
state.json), the `--sampler` changes to the run's eval settings, and every metric. `--metrics binding` adds the text
encoder's binding probes (`prx_nb.proxy.checkpoint_binding`); given alone, nothing is sampled.
Names already in OUT are kept unless scored again, so checkpoints can be added one run at a time.
"""
import argparse
import json
from pathlib import Path

from prx_nb.checkpoints import CheckpointError, checkpoint_path
from prx_nb.config import ConfigError, parse_override
from prx_nb.proxy import checkpoint_binding, score_checkpoint

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("out")
parser.add_argument("checkpoints", nargs="+", help="NAME=CHECKPOINT (a checkpoint folder, or a run folder: its latest)")
parser.add_argument("--n", type=int, default=1024)
parser.add_argument("--metrics", nargs="+", default=["main_object_accuracy", "attribute_accuracy", "caption_accuracy",
                                                     "error_breakdown", "judge_fid", "judge_mmd"],
                    help="eval metrics to sample for, and/or 'binding' (the text encoder's probes, no sampling)")
parser.add_argument("--sampler", action="append", default=[], metavar="eval.KEY=VALUE",
                    help="sample with this eval setting instead of the run's (repeat it: --sampler eval.guidance=5 --sampler eval.steps=40)")
parser.add_argument("--note", default="")
args = parser.parse_args()
sampler = {}
for text in args.sampler:
    try:
        key, value = parse_override(text)
    except ConfigError as err:
        raise SystemExit(str(err)) from None
    if not key.startswith("eval."):
        raise SystemExit(f"--sampler {text!r}: expected an eval.KEY=VALUE setting")
    sampler[key.removeprefix("eval.")] = value

out = Path(args.out)
stored = json.loads(out.read_text()) if out.is_file() else {"note": "", "checkpoints": {}}
stored["note"] = args.note or stored["note"]
for spec in args.checkpoints:
    name, sep, folder = spec.partition("=")
    if not sep:
        raise SystemExit(f"{spec!r}: expected NAME=CHECKPOINT")
    try:
        path = checkpoint_path(folder)
    except CheckpointError as err:
        raise SystemExit(str(err)) from None
    state = json.loads((path / "state.json").read_text())
    metrics = [m for m in args.metrics if m != "binding"]
    entry = {"path": str(path), "step": state["step"], "seed": state["config"]["train"]["seed"]}
    if metrics:
        scores = score_checkpoint(path, n=args.n, metrics=metrics, sampler=sampler)
        entry.update(n=args.n, sampler=sampler, metrics={k: v for k, v in scores.items() if k != "seconds"})
    if "binding" in args.metrics:
        entry["binding"] = checkpoint_binding(path)
    stored["checkpoints"][name] = entry
    print(f"{name}: {path}")
    out.write_text(json.dumps(stored, indent=1) + "\n")
