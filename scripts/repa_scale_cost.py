"""REPA's step-time cost at full scale (GPU): PRX-1.2B at 256 px against the same run with REPA and a DINOv2-L-sized
teacher (random weights: the cost does not depend on them), on synthetic data, timed in turn in one process.

    python scripts/repa_scale_cost.py [--rounds 3] [--steps 20] [--json out.json] [overrides ...]

Prints each round's samples/s and the ratio REPA / baseline, plus the teacher's forward alone on one batch: what cached
teacher tokens would remove from the REPA step (an estimate; this package does not cache teacher tokens yet).
`--small` swaps in a tiny teacher and model overrides for a CPU smoke test of the script itself.
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
configs = {"baseline": load_config(ROOT / "configs/prx-1.2b/baseline.toml", args.overrides),
           "repa": load_config(ROOT / "configs/prx-1.2b/repa-dinov2.toml", [*args.overrides, f"techniques.repa.teacher={folder}", *args.repa])}
rounds = []
for _ in range(args.rounds):
    speed = {name: benchmark(cfg, steps=args.steps, warmup=args.warmup, synthetic=True)["samples_per_s"]
             for name, cfg in configs.items()}
    rounds.append({**speed, "ratio": speed["repa"] / speed["baseline"]})
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
summary = {"median_ratio": statistics.median(r["ratio"] for r in rounds), "rounds": rounds,
           "teacher_forward_s": teacher_s, "baseline_step_s": base_step_s, "repa_step_s": repa_step_s,
           "cached_ratio_estimate": base_step_s / (repa_step_s - teacher_s), "overrides": args.overrides}
print(json.dumps(summary))
if args.json:
    Path(args.json).write_text(json.dumps(summary, indent=1))
