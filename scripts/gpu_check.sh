#!/usr/bin/env bash
# Every prepared GPU check of the open issues in one go, on one GPU (H100/H200): about 6 minutes, each check under its
# own time limit so one failure costs only its slot. Step-time ratios are timed side by side in one process (bf16
# autocast, eager (a compile per benchmarked model would not fit), batch 16 per step, synthetic data of the configs'
# shapes: no download, no data on disk).
#   scripts/gpu_check.sh [OUT_DIR]          # summaries as JSON in OUT_DIR (default gpu_check/)
#   scripts/gpu_check.sh OUT_DIR logbook    # then the logbook's gpu preset (<= 10 min more): OUT_DIR/logbook/results.md
# CHECK_OVERRIDES (key=value ...) is added to every benchmarked config: e.g. a CPU smoke test of this script with
#   CHECK_OVERRIDES="train.device=cpu model.depth=13 model.hidden_size=128 model.num_heads=2 data.resolution=64 text.max_length=16" \
#   CHECK_STEPS=1 scripts/gpu_check.sh /tmp/gc
set -uo pipefail
out="${1:-gpu_check}"; mkdir -p "$out"
read -r -a extra <<< "${CHECK_OVERRIDES:-}"
steps="${CHECK_STEPS:-10}"
bench() {   # NAME LIMIT_S BASELINE ROW [more args]
    local name=$1 limit=$2; shift 2
    echo "== $name"
    timeout "$limit" python scripts/bench_technique.py "$@" train.compile=false train.batch_size=16 "${extra[@]}" --synthetic \
        --steps "$steps" --warmup 3 --rounds 2 --json "$out/$name.json" 2>&1 | tail -n 3 || echo "$name: failed or timed out"
}
python -c "import torch; print(torch.cuda.get_device_name() if torch.cuda.is_available() else 'no CUDA device')"
# x-prediction issue: 1024 px pixels (patch 32, bottleneck 256, x-pred) vs the 256 px latent baseline; the study: ~3x slower
bench xpred_1024_vs_latent_256 150 configs/prx-1.2b/baseline.toml configs/prx-jit-1024/baseline.toml
# contrastive FM's overhead at 1.2B (study: 3.95 -> 3.75 batches/s; goal <= 1%)
bench contrastive_1p2b 120 configs/prx-1.2b/baseline.toml configs/prx-1.2b/contrastive.toml
# token routing at 1024 tokens (study: TREAD +23%, SPRINT +42% samples/s)
bench tread_1024 120 configs/prx-jit-1024/baseline.toml configs/prx-jit-1024/tread.toml
bench sprint_1024 120 configs/prx-jit-1024/baseline.toml configs/prx-jit-1024/sprint.toml
# REPA with a DINOv2-L-sized teacher, live and from cached tokens (study: 7.3% cost; goal <= 5% live, ~0% cached)
echo "== repa_1p2b"
timeout 180 python scripts/repa_scale_cost.py train.compile=false train.batch_size=16 "${extra[@]}" --steps "$steps" --warmup 3 --rounds 2 \
    --json "$out/repa_1p2b.json" 2>&1 | tail -n 3 || echo "repa_1p2b: failed or timed out"
if [[ "${2:-}" == "logbook" ]]; then
    timeout 660 prx-nb logbook --preset gpu --out "$out/logbook" || echo "logbook: failed or timed out"
fi
