"""Training speed of the spiral grid: naive sequential loop vs batched ensemble, and end-to-end run times.

    python scripts/bench_spiral.py [--steps 100] [--threads 2] [--skip-runs]
"""
import argparse
from dataclasses import replace

import torch

from prx_nb.spiral import SpiralConfig, run_spiral, time_training

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--steps", type=int, default=100, help="training steps per timing")
parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (CI has 2 cores)")
parser.add_argument("--repeats", type=int, default=2, help="best of this many timings")
parser.add_argument("--skip-runs", action="store_true", help="skip the end-to-end default and quick runs")
args = parser.parse_args()
torch.set_num_threads(args.threads)

full = SpiralConfig()
probe = replace(full, steps=args.steps)
seq = time_training(probe, sequential=True, repeats=args.repeats)
print(f"{len(full.members)} models, {args.steps} steps each, batch {full.batch}, {args.threads} threads")
print(f"  naive sequential loop : {seq / args.steps * 1e3:7.1f} ms/step  -> {seq / args.steps * full.steps:6.0f} s for {full.steps} steps")
for layout in ("grouped", "padded"):
    ens = time_training(replace(probe, layout=layout), repeats=args.repeats)
    print(f"  ensemble, {layout:7s}     : {ens / args.steps * 1e3:7.1f} ms/step  -> {ens / args.steps * full.steps:6.0f} s"
          f"   speed-up {seq / ens:.1f}x")
if not args.skip_runs:
    for name, cfg in (("default", full), ("quick", SpiralConfig.quick())):
        report = run_spiral(cfg).report
        print(f"run_spiral {name:7s}: {report['seconds']:.1f} s (train {report['train_seconds']:.1f} s, "
              f"sample and score {report['sample_seconds']:.1f} s)")
