#!/usr/bin/env bash
# Train on one node with all its GPUs (8 by default): the same entry point as a single-process run.
#   scripts/torchrun_1node.sh configs/prx-1.2b/baseline.toml [section.key=value ...]
# The config's train.batch_size is per GPU: 32 x 8 = the baseline's global batch 256.
set -euo pipefail
config="${1:?usage: $0 CONFIG [key=value ...]}"; shift
exec torchrun --standalone --nproc_per_node "${NPROC_PER_NODE:-8}" \
    --no-python prx-nb train --config "$config" "$@"
