"""Training throughput of a config: steps/s and samples/s (and FLOPs per sample, MFU on a GPU).

    python scripts/bench_train.py configs/cpu/baseline.toml [key=value ...] [--steps 20] [--warmup 5]
    torchrun --standalone --nproc_per_node 8 scripts/bench_train.py configs/prx-1.2b/baseline.toml
"""
import argparse
import json

from prx_nb.train import benchmark, load_config

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("config")
parser.add_argument("overrides", nargs="*")
parser.add_argument("--steps", type=int, default=20)
parser.add_argument("--warmup", type=int, default=5)
args = parser.parse_args()
result = benchmark(load_config(args.config, args.overrides), steps=args.steps, warmup=args.warmup)
if result["device"].startswith("cpu") or result["device"].endswith(":0"):
    print(json.dumps({"config": args.config, "overrides": args.overrides, **result}, indent=1))
