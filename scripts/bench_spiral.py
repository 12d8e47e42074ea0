"""Training speed of the spiral grid: batched ensemble vs naive loop vs the matmul limit, where the time goes, end-to-end runs.

    python scripts/bench_spiral.py [--steps 30] [--threads 1] [--repeats 3] [--skip-runs]

All timings in one process, interleaved, best of `--repeats`: ratios are what to compare across machines.
"""
import argparse
from dataclasses import replace

import torch

from prx_nb.spiral import SpiralConfig, measure_speed, run_spiral, time_breakdown, train_flops

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--steps", type=int, default=30, help="training steps per timing")
parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
parser.add_argument("--repeats", type=int, default=3, help="best of this many timings")
parser.add_argument("--skip-runs", action="store_true", help="skip the end-to-end default and quick runs")
args = parser.parse_args()
torch.set_num_threads(args.threads)

full = SpiralConfig()
speed = measure_speed(replace(full, steps=args.steps), repeats=args.repeats)
print(f"{len(full.members)} models, batch {full.batch}, {args.steps} steps per timing, {speed['threads']} thread(s)")
print(f"  training FLOPs of the default grid: {train_flops(full) / 1e12:.2f} TFLOP ({full.steps} steps); "
      f"fp32 matmul {speed['matmul_gflops']:.0f} GFLOP/s")
for name, key in (("naive sequential loop", "sequential_ms"), ("batched ensemble", "ensemble_ms"), ("matmul limit", "limit_ms")):
    print(f"  {name:22s}: {speed[key]:7.1f} ms/step -> {speed[key] * full.steps / 1e3:6.0f} s for {full.steps} steps")
print(f"  ensemble vs naive loop {speed['speedup']:.2f}x faster; ensemble vs matmul limit {speed['times_limit']:.2f}x")
breakdown = time_breakdown(full, steps=5)
total = sum(breakdown.values())
print(f"  profiled step {total:.0f} ms: " + ", ".join(f"{k} {v:.0f} ms ({v / total:.0%})" for k, v in breakdown.items()))
if not args.skip_runs:
    for name, cfg in (("default", full), ("quick", SpiralConfig.quick())):
        report = run_spiral(cfg).report
        print(f"run_spiral {name:7s}: {report['seconds']:.1f} s (train {report['train_seconds']:.1f} s, "
              f"sample and score {report['sample_seconds']:.1f} s)")
