"""Training throughput of a config: steps/s and samples/s (and FLOPs per sample, MFU on a GPU).

    python scripts/bench_train.py configs/cpu/baseline.toml [key=value ...] [--steps 20] [--warmup 5]
    python scripts/bench_train.py configs/prx-1.2b/baseline.toml --synthetic model.depth=2 train.batch_size=2 train.compile=false
    torchrun --standalone --nproc_per_node 8 scripts/bench_train.py configs/prx-1.2b/baseline.toml --synthetic

--synthetic replaces the data, the autoencoder and a frozen text encoder by random tensors of the config's shapes,
so a full-scale step runs without its dataset cache or downloads.
"""
import argparse
import json

from prx_nb.config import load_config
from prx_nb.train import benchmark

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("config")
parser.add_argument("overrides", nargs="*")
parser.add_argument("--steps", type=int, default=20)
parser.add_argument("--warmup", type=int, default=5)
parser.add_argument("--synthetic", action="store_true", help="random data of the config's shapes")
args = parser.parse_intermixed_args()
result = benchmark(load_config(args.config, args.overrides), steps=args.steps, warmup=args.warmup, synthetic=args.synthetic)
if result["device"].startswith("cpu") or result["device"].endswith(":0"):
    print(json.dumps({"config": args.config, "overrides": args.overrides, **result}, indent=1))
