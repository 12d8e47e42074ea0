"""Step-time cost of a technique: a row config against its baseline, timed in turn in one process.

    python scripts/bench_technique.py configs/cpu/baseline.toml configs/cpu/contrastive.toml [--steps 20] [--rounds 3]

Each round benchmarks the baseline, then the row (`prx_nb.train.benchmark`, same overrides, same process), so a
machine whose speed drifts affects both alike; prints each round's samples/s and the median ratio row / baseline.
"""
import argparse
import json
import statistics

from prx_nb.config import load_config
from prx_nb.train import benchmark

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("baseline")
parser.add_argument("row")
parser.add_argument("overrides", nargs="*", help="applied to both configs, e.g. train.batch_size=16")
parser.add_argument("--steps", type=int, default=20)
parser.add_argument("--warmup", type=int, default=5)
parser.add_argument("--rounds", type=int, default=3)
parser.add_argument("--synthetic", action="store_true", help="random data of the configs' shapes")
args = parser.parse_intermixed_args()
configs = {name: load_config(path, args.overrides) for name, path in (("baseline", args.baseline), ("row", args.row))}
rounds = []
for _ in range(args.rounds):
    speed = {name: benchmark(cfg, steps=args.steps, warmup=args.warmup, synthetic=args.synthetic)["samples_per_s"]
             for name, cfg in configs.items()}
    rounds.append({**speed, "ratio": speed["row"] / speed["baseline"]})
    print(json.dumps(rounds[-1]))
print(json.dumps({"baseline": args.baseline, "row": args.row, "overrides": args.overrides,
                  "median_ratio": statistics.median(r["ratio"] for r in rounds),
                  "min_ratio": min(r["ratio"] for r in rounds), "max_ratio": max(r["ratio"] for r in rounds)}))
