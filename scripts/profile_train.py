"""Where a training step's time goes: the data stream alone, then torch.profiler over a short run of a config.

    python scripts/profile_train.py configs/cpu/baseline.toml [key=value ...] [--steps 30] [--top 15]

Prints the seconds per batch of the data stream (rendering shapes, or reading a cache), the step time and achieved
GFLOP/s beside a plain fp32 matmul measured in the same process (`prx_nb.train.benchmark`), and the ops that take
the most self CPU time in a profiled run.
"""
import argparse
import dataclasses
import json
import tempfile
import time

from torch.profiler import ProfilerActivity, profile

from prx_nb.config import load_config
from prx_nb.objective import build_data
from prx_nb.runtime import Runtime
from prx_nb.train import benchmark, train

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("config")
parser.add_argument("overrides", nargs="*")
parser.add_argument("--steps", type=int, default=30)
parser.add_argument("--top", type=int, default=15)
args = parser.parse_intermixed_args()
cfg = load_config(args.config, args.overrides)

stream = build_data(cfg, Runtime())
start = time.perf_counter()
for step in range(args.steps):
    stream.batch(step)
data_s = (time.perf_counter() - start) / args.steps

speed = benchmark(cfg, steps=args.steps, warmup=5)
step_s = 1 / speed["steps_per_s"]
print(json.dumps({"data_s_per_batch": data_s, "step_s": step_s, "data_fraction": data_s / step_s,
                  **{k: speed[k] for k in ("samples_per_s", "gflops_per_s", "matmul_gflops_per_s", "matmul_fraction")}},
                 indent=1))

with tempfile.TemporaryDirectory() as tmp:
    run = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, steps=args.steps, out_dir=tmp, resume=False,
                                                             ckpt_every=0, progress=False),
                              eval=dataclasses.replace(cfg.eval, every=0))
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        train(run)
print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.top))
