"""Where a training step's time goes: the data stream alone, then torch.profiler over a short run of a config.

    python scripts/profile_train.py configs/cpu/baseline.toml [key=value ...] [--steps 30] [--top 15]

Prints the seconds per batch of the data stream (rendering shapes, or reading a cache), the step time and achieved
GFLOP/s beside a plain fp32 matmul measured in the same process (`prx_nb.train.benchmark`), and the ops that take
the most self CPU time in a profiled run (`prx_nb.proxy.profile_training`).
"""
import argparse
import json

from prx_nb.config import load_config
from prx_nb.proxy import profile_training

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("config")
parser.add_argument("overrides", nargs="*")
parser.add_argument("--steps", type=int, default=30)
parser.add_argument("--top", type=int, default=15)
args = parser.parse_intermixed_args()
summary, table = profile_training(load_config(args.config, args.overrides), args.steps, args.top)
print(json.dumps(summary, indent=1))
print(table)
