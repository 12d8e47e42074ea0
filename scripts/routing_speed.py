"""Step-time speed-up of TREAD and SPRINT over dense training as the image-token count grows (the CPU proxy).

    OMP_NUM_THREADS=1 python scripts/routing_speed.py [--tokens 16 64 256 1024] [--batch 8] [--steps 5] [--rounds 5]

The CPU proxy's 32 px images are cut into patches of 8, 4, 2 or 1 pixels: 16, 64, 256 or 1024 image tokens, with
the same 4-block, 192-wide model, text and batch. Each round times dense, TREAD and SPRINT training steps in turn
(`prx_nb.train.benchmark`, one process), so a machine whose speed drifts affects all three alike. Prints a table of
min/median speed-ups with the matmul FLOP ratio beside it and writes nbs/results/routing_speed.json.
"""
import argparse
import json
import statistics
import sys
from pathlib import Path

from prx_nb.config import load_config
from prx_nb.routing import nominal_flops
from prx_nb.train import benchmark

ROOT = Path(__file__).resolve().parents[1]
parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--tokens", type=int, nargs="+", default=[16, 64, 256, 1024])
parser.add_argument("--batch", type=int, default=8)
parser.add_argument("--steps", type=int, default=5)
parser.add_argument("--warmup", type=int, default=2)
parser.add_argument("--rounds", type=int, default=5)
parser.add_argument("--out", default=str(ROOT / "nbs" / "results" / "routing_speed.json"))
args = parser.parse_args()
methods = {"dense": "baseline", "tread": "tread", "sprint": "sprint"}
rows = []
for tokens in args.tokens:
    patch = 32 // int(round(tokens ** 0.5))
    overrides = [f"model.patch_size={patch}", f"train.batch_size={args.batch}"]
    configs = {m: load_config(ROOT / "configs" / "cpu" / f"{name}.toml", overrides) for m, name in methods.items()}
    speed = {m: [] for m in methods}
    for _ in range(args.rounds):
        for m, cfg in configs.items():
            speed[m].append(benchmark(cfg, steps=args.steps, warmup=args.warmup)["samples_per_s"])
    for m, cfg in configs.items():
        ratios = [s / d for s, d in zip(speed[m], speed["dense"])]
        dense_flops, flops = nominal_flops(cfg, tokens)
        rows.append({"tokens": tokens, "patch": patch, "method": m, "samples_per_s": speed[m], "speedup": ratios,
                     "speedup_min": min(ratios), "speedup_median": statistics.median(ratios),
                     "flops_ratio": dense_flops / flops})
        print(f"{tokens:5d} tokens {m:7s} samples/s {statistics.median(speed[m]):8.1f}  speed-up min "
              f"{min(ratios):.3f} median {statistics.median(ratios):.3f}  FLOP ratio {dense_flops / flops:.3f}",
              flush=True)
Path(args.out).write_text(json.dumps({"command": "OMP_NUM_THREADS=1 python scripts/routing_speed.py "
                                      + " ".join(sys.argv[1:]), "batch_size": args.batch, "steps": args.steps,
                                      "rounds": args.rounds, "rows": rows}, indent=1))
