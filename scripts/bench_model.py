"""Training-step throughput of a PRX denoiser preset: `python scripts/bench_model.py --preset cpu --batch 64`.

Prints wall and process-CPU seconds per AdamW step, samples/s, achieved TFLOP/s and (bf16 on a known GPU) MFU, as a table row and JSON."""
import argparse
import json
import sys

import torch

from prx_nb.metrics import benchmark_training_step
from prx_nb.model import PRESET_INPUT_SIZE, PRESETS, RoutingPlan, make_denoiser


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="cpu", choices=list(PRESETS))
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--size", type=int, default=None, help="input height = width (default: the preset's)")
    parser.add_argument("--in-channels", type=int, default=None, help="override, e.g. 4 with --patch 1 for latents")
    parser.add_argument("--patch", type=int, default=None, help="override the patch size")
    parser.add_argument("--text-tokens", type=int, default=16)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (e.g. 2 to mimic CI)")
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast")
    parser.add_argument("--compile", action="store_true", help="torch.compile the denoiser")
    parser.add_argument("--route", type=float, nargs=3, metavar=("START", "END", "KEEP"), default=None,
                        help="TREAD routing over blocks START..END-1 keeping a KEEP fraction")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.batch < 1 or args.steps < 1 or args.warmup < 0:
        parser.error(f"--batch {args.batch}, --steps {args.steps} must be >= 1 and --warmup {args.warmup} >= 0")
    if args.threads:
        torch.set_num_threads(args.threads)
    overrides = {k: v for k, v in (("in_channels", args.in_channels), ("patch_size", args.patch)) if v is not None}
    size = args.size or PRESET_INPUT_SIZE[args.preset]
    try:
        denoiser = make_denoiser(args.preset, device=args.device, seed=args.seed, **overrides)
        routing = None if args.route is None else RoutingPlan(int(args.route[0]), int(args.route[1]), args.route[2])
        result = benchmark_training_step(denoiser, args.batch, size, size, args.text_tokens, steps=args.steps,
                                         warmup=args.warmup, device=args.device, routing=routing, seed=args.seed,
                                         autocast_dtype=torch.bfloat16 if args.bf16 else None, compile=args.compile)
    except ValueError as error:
        parser.error(str(error))
    mfu = "-" if result["mfu"] is None else f"{result['mfu']:.1%}"
    print(f"{args.preset} batch {args.batch} input {size}x{size}: {1e3 * result['step_s']:.1f} ms/step "
          f"({1e3 * result['cpu_s']:.1f} ms process CPU), {result['samples_per_s']:.1f} samples/s, {result['tflops']:.3f} TFLOP/s, MFU {mfu}")
    print(json.dumps({"preset": args.preset, "batch": args.batch, "size": size, "threads": torch.get_num_threads(),
                      **result}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
