"""Quality of TREAD and SPRINT against dense training at equal steps and at equal wall-clock, at a low and a high
image-token count, and the guidance kinds on the routed checkpoints (the CPU proxy).

    OMP_NUM_THREADS=1 python scripts/routing_quality.py [--steps 300] [--seeds 0 1] [--tokens 16 64] [--n 128]

For each token count (32 px shapes, patch 8 or 4), the three configs configs/cpu/{baseline,tread,sprint}.toml are
first timed side by side at the run's batch (`prx_nb.train.benchmark`, 3 alternated rounds); the median speed-up s
of each routed config sets its equal-wall-clock budget round(s x steps). Dense trains `steps` steps; each routed run
trains round(s x steps) steps with a checkpoint at `steps` (equal steps) and at the end (equal wall-clock); the
dense run is the reference for both. Every checkpoint is scored with `prx_nb.proxy.score_checkpoint`. Then the
routed checkpoints at equal steps of the lowest token count are sampled with each guidance kind
(`eval.guidance_kind`), two sampling seeds each. Writes nbs/results/routing_quality.json and
nbs/results/routing_guidance.json. Runs go under /tmp/routing_runs (reused).
"""
import argparse
import dataclasses
import json
import statistics
import sys
from pathlib import Path

import torch

from prx_nb.checkpoints import checkpoint_dirs
from prx_nb.config import load_config
from prx_nb.evaluation import eval_set, load_for_inference, make_generator
from prx_nb.metrics import evaluate
from prx_nb.proxy import score_checkpoint
from prx_nb.train import benchmark, train

ROOT = Path(__file__).resolve().parents[1]
parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--steps", type=int, default=300)
parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
parser.add_argument("--tokens", type=int, nargs="+", default=[16, 64])
parser.add_argument("--n", type=int, default=128, help="samples scored per checkpoint")
parser.add_argument("--runs", default="/tmp/routing_runs")
args = parser.parse_args()
METHODS = {"dense": "baseline", "tread": "tread", "sprint": "sprint"}
GUIDANCE = {"none": ("cfg", 1.0), "cfg": ("cfg", 3.5), "self": ("self", 3.5), "sparse": ("sparse", 3.5)}
command = "OMP_NUM_THREADS=1 python scripts/routing_quality.py " + " ".join(sys.argv[1:])


def config(method: str, tokens: int, extra=()):
    patch = 32 // int(round(tokens ** 0.5))
    return load_config(ROOT / "configs" / "cpu" / f"{METHODS[method]}.toml", [f"model.patch_size={patch}", *extra])


quality, routed_checkpoints = {"command": command, "steps": args.steps, "seeds": args.seeds, "rows": []}, []
for tokens in args.tokens:
    speed = {m: [] for m in METHODS}
    for _ in range(3):                                   # side by side, alternated
        for m in METHODS:
            speed[m].append(benchmark(config(m, tokens), steps=5, warmup=2)["samples_per_s"])
    speedup = {m: statistics.median(s / d for s, d in zip(speed[m], speed["dense"])) for m in METHODS}
    print(f"{tokens} tokens: speed-up {speedup}", flush=True)
    for m in METHODS:
        total = round(speedup[m] * args.steps) if m != "dense" else args.steps
        for seed in args.seeds:
            out = Path(args.runs) / f"{m}-{tokens}-seed{seed}"
            cfg = config(m, tokens, [f"train.seed={seed}", f"train.steps={total}", f"train.out_dir={out}",
                                     "eval.every=0", f"train.ckpt_every={args.steps}", "train.keep_last=2",
                                     "train.progress=false"])
            train(cfg)
            saved = {int(p.name.split("_")[1]): p for p in checkpoint_dirs(out / "checkpoints")}
            budgets = {"equal_steps": args.steps, **({"equal_time": total} if m != "dense" else {})}
            for budget, step in budgets.items():
                scores = score_checkpoint(saved[step], n=args.n)
                quality["rows"].append({"tokens": tokens, "method": m, "budget": budget, "seed": seed, "step": step,
                                        "speedup": speedup[m], **scores})
                print(json.dumps({k: quality["rows"][-1][k] for k in ("tokens", "method", "budget", "seed", "step",
                                                                        "judge_fid", "caption_accuracy")}), flush=True)
            if m != "dense" and tokens == min(args.tokens):
                routed_checkpoints.append((m, seed, saved[args.steps]))
(ROOT / "nbs" / "results" / "routing_quality.json").write_text(json.dumps(quality, indent=1))

guidance = {"command": command, "n": args.n, "rows": []}
for m, seed, ckpt in routed_checkpoints:
    cfg, denoiser, text_encoder, latents = load_for_inference(ckpt)
    items = eval_set(cfg, args.n, latents, reference=True)
    for name, (kind, scale) in GUIDANCE.items():
        cfg.eval = dataclasses.replace(cfg.eval, guidance_kind=kind, guidance=scale, guidance_keep=0.5)
        generate = make_generator(denoiser, text_encoder, latents, cfg, torch.device("cpu"))
        for sampling_seed in (0, 1):
            scores = evaluate(generate, items.captions, n=args.n, seed=sampling_seed,
                              metrics=["caption_accuracy", "main_object_accuracy", "judge_fid", "judge_mmd"],
                              reference=items.reference, batch_size=cfg.eval.batch_size, records=items.records)
            guidance["rows"].append({"method": m, "train_seed": seed, "sampling_seed": sampling_seed,
                                     "guidance": name, "scale": scale, **scores})
            print(json.dumps({k: guidance["rows"][-1][k] for k in ("method", "train_seed", "sampling_seed",
                                                                     "guidance", "judge_fid", "caption_accuracy")}),
                  flush=True)
(ROOT / "nbs" / "results" / "routing_guidance.json").write_text(json.dumps(guidance, indent=1))
