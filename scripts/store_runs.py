"""Keep the evaluation logs of training runs in a small JSON file a chapter reads back (run folders are not committed).

    python scripts/store_runs.py nbs/results/proxy_recipe.json --note "what these runs are" \
        NAME=RUN_DIR[:what the run changes] ...

Per run it stores what the run changes (text), its whole config (`config.json`), the steps trained, and per
evaluation the step, the training minutes up to it (from the logged samples/s) and the proxy's metrics. A chapter
recomputes FLOPs from the config and the steps, so a change in FLOP accounting leaves no stale numbers behind.
"""
import argparse
import json
from pathlib import Path

from prx_nb.config import config_to_table
from prx_nb.proxy import RECIPE_COLUMNS, read_run, train_minutes

KEPT = ("step", *RECIPE_COLUMNS, "attribute_accuracy/size", "attribute_accuracy/empty")

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("out")
parser.add_argument("runs", nargs="+", help="NAME=RUN_DIR[:how]")
parser.add_argument("--note", default="")
args = parser.parse_args()

stored = {"note": args.note, "runs": {}}
for spec in args.runs:
    name, sep, rest = spec.partition("=")
    if not sep:
        raise SystemExit(f"{spec!r}: expected NAME=RUN_DIR[:how]")
    folder, _, how = rest.partition(":")
    run = read_run(folder)
    bs = run.cfg.train.batch_size
    stored["runs"][name] = {
        "how": how, "config": config_to_table(run.cfg), "steps": max((r["step"] for r in run.history), default=0),
        "evals": [{**{k: r[k] for k in KEPT if k in r}, "minutes": train_minutes(run.history, bs, r["step"])}
                  for r in run.evals]}
Path(args.out).write_text(json.dumps(stored, indent=1) + "\n")
print(f"{args.out}: {len(stored['runs'])} runs")
