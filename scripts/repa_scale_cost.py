"""REPA's step-time cost at full scale (GPU): PRX-1.2B at 256 px against the same run with REPA and a DINOv2-L-sized
teacher (random weights: the cost does not depend on them), live and with cached teacher tokens, on synthetic data,
timed in turn in one process.

    python scripts/repa_scale_cost.py [--rounds 3] [--steps 20] [--json out.json] [overrides ...]

Prints each round's samples/s and the ratios REPA / baseline with the live teacher ('repa') and with cached tokens
('repa_cached': `techniques.repa.cached=true`; on synthetic data the plug-in draws random tokens of the teacher's width
and never runs the teacher, so the reading of the tokens from disk is not timed), plus the teacher's forward alone on
one batch, whose share of the live REPA step is what the cache removes (a cross-check of the measured ratio).
`--small` swaps in a tiny teacher for a CPU smoke test of the script itself, with a tiny model:

    python scripts/repa_scale_cost.py --small --rounds 1 --steps 2 --warmup 1 model.preset=tiny train.batch_size=2 \\
        data.resolution=64 train.device=cpu --repa techniques.repa.block=1
"""
import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch
from transformers import Dinov2WithRegistersConfig, Dinov2WithRegistersModel

from prx_nb.config import load_config, resolve_architecture
from prx_nb.repa import load_teacher
from prx_nb.train import benchmark

ROOT = Path(__file__).resolve().parent.parent
parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("overrides", nargs="*", help="applied to both configs, e.g. train.batch_size=16")
parser.add_argument("--steps", type=int, default=20)
parser.add_argument("--warmup", type=int, default=5)
parser.add_argument("--rounds", type=int, default=3)
parser.add_argument("--small", action="store_true", help="tiny teacher (CPU smoke test)")
parser.add_argument("--repa", nargs="*", default=[], help="overrides of the REPA row only, e.g. techniques.repa.block=1")
parser.add_argument("--json")
args = parser.parse_intermixed_args()

size = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64) if args.small else \
    dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096)   # ViT-L/14
folder = Path(tempfile.mkdtemp()) / "dinov2-l-random"
Dinov2WithRegistersModel(Dinov2WithRegistersConfig(**size, patch_size=14, image_size=518, num_register_tokens=4)).save_pretrained(folder)
repa = [*args.overrides, f"techniques.repa.teacher={folder}", *args.repa]
configs = {"baseline": load_config(ROOT / "configs/prx-1.2b/baseline.toml", args.overrides),
           "repa": load_config(ROOT / "configs/prx-1.2b/repa-dinov2.toml", repa),
           "repa_cached": load_config(ROOT / "configs/prx-1.2b/repa-dinov2.toml", [*repa, "techniques.repa.cached=true"])}
rounds = []
for k in range(args.rounds):
    order = list(configs) if k % 2 == 0 else list(configs)[::-1]          # alternated: drift hits every config alike
    speed = {name: benchmark(configs[name], steps=args.steps, warmup=args.warmup, synthetic=True)["samples_per_s"]
             for name in order}
    rounds.append({**{name: speed[name] for name in configs}, "ratio": speed["repa"] / speed["baseline"],
                   "ratio_cached": speed["repa_cached"] / speed["baseline"]})
    print(json.dumps(rounds[-1]), flush=True)

cfg = configs["repa"]
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
teacher = load_teacher(str(folder)).to(device)
side = cfg.data.resolution // 8 // resolve_architecture(cfg.model)["patch_size"]   # Flux VAE 8x, then patches: the student grid
images = torch.rand(cfg.train.batch_size, 3, cfg.data.resolution, cfg.data.resolution, device=device) * 2 - 1
times = []
for i in range(args.warmup + args.steps):
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    teacher(images, (side, side))
    if device.type == "cuda":
        torch.cuda.synchronize()
    times.append(time.perf_counter() - start)
teacher_s = statistics.median(times[args.warmup:])
repa_step_s = cfg.train.batch_size / statistics.median(r["repa"] for r in rounds)
base_step_s = cfg.train.batch_size / statistics.median(r["baseline"] for r in rounds)
summary = {"median_ratio": statistics.median(r["ratio"] for r in rounds),
           "median_ratio_cached": statistics.median(r["ratio_cached"] for r in rounds), "rounds": rounds,
           "teacher_forward_s": teacher_s, "baseline_step_s": base_step_s, "repa_step_s": repa_step_s,
           "cached_ratio_estimate": base_step_s / (repa_step_s - teacher_s), "overrides": args.overrides}
print(json.dumps(summary))
if args.json:
    Path(args.json).write_text(json.dumps(summary, indent=1))
