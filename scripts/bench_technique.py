"""Step-time cost of a technique: a row config (and variants of it) against its baseline, timed in turn in one process.

    python scripts/bench_technique.py configs/cpu/baseline.toml configs/cpu/contrastive.toml [--steps 20] [--rounds 3]
    python scripts/bench_technique.py configs/cpu/baseline.toml configs/cpu/repa.toml data.source=cached \\
        data.path=CACHE 'eval.metrics=[]' --variant live techniques.repa.cached=false [--json out.json]

Each round benchmarks the baseline, the row and each `--variant` (the row plus its own overrides) with
`prx_nb.train.benchmark`, the same overrides, in one process, in an order reversed every other round, so a machine
whose speed drifts affects all alike; prints each round's samples/s and the median ratio of each to the baseline.
"""
import argparse
import json
import statistics
from pathlib import Path

from prx_nb.config import load_config
from prx_nb.train import benchmark

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("baseline")
parser.add_argument("row")
parser.add_argument("overrides", nargs="*", help="applied to every config, e.g. train.batch_size=16")
parser.add_argument("--variant", nargs="+", action="append", default=[], metavar=("LABEL", "KEY=VALUE"),
                    help="the row plus these overrides, timed as one more config")
parser.add_argument("--steps", type=int, default=20)
parser.add_argument("--warmup", type=int, default=5)
parser.add_argument("--rounds", type=int, default=3)
parser.add_argument("--synthetic", action="store_true", help="random data of the configs' shapes")
parser.add_argument("--json", help="also write the summary to this file")
args = parser.parse_intermixed_args()
configs = {"baseline": load_config(args.baseline, args.overrides), "row": load_config(args.row, args.overrides)}
configs |= {label: load_config(args.row, [*args.overrides, *extra]) for label, *extra in args.variant}
rounds = []
for k in range(args.rounds):
    order = list(configs) if k % 2 == 0 else list(configs)[::-1]
    speed = {name: benchmark(configs[name], steps=args.steps, warmup=args.warmup, synthetic=args.synthetic)["samples_per_s"]
             for name in order}
    rounds.append({**{name: speed[name] for name in configs},
                   **{f"ratio_{name}": speed[name] / speed["baseline"] for name in configs if name != "baseline"}})
    print(json.dumps(rounds[-1]), flush=True)


def ratios(name: str) -> dict:
    values = [r[f"ratio_{name}"] for r in rounds]
    return {"median_ratio": statistics.median(values), "min_ratio": min(values), "max_ratio": max(values)}


summary = {"baseline": args.baseline, "row": args.row, "overrides": args.overrides, **ratios("row"),
           "variants": {label: {"overrides": extra, **ratios(label)} for label, *extra in args.variant},
           "rounds": rounds}
print(json.dumps(summary))
if args.json:
    Path(args.json).write_text(json.dumps(summary, indent=1))
