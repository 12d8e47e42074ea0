#!/usr/bin/env bash
# Train on several nodes: run this on every node with the same MASTER_ADDR/MASTER_PORT and its own NODE_RANK.
#   NNODES=4 NODE_RANK=0 MASTER_ADDR=node0 MASTER_PORT=29500 scripts/torchrun_multinode.sh CONFIG [key=value ...]
# Global batch = train.batch_size x NNODES x NPROC_PER_NODE; pick dist.strategy=fsdp for models that do not fit DDP.
set -euo pipefail
config="${1:?usage: $0 CONFIG [key=value ...]}"; shift
exec torchrun --nnodes "${NNODES:?set NNODES}" --node_rank "${NODE_RANK:?set NODE_RANK}" \
    --nproc_per_node "${NPROC_PER_NODE:-8}" \
    --rdzv_backend c10d --rdzv_endpoint "${MASTER_ADDR:?set MASTER_ADDR}:${MASTER_PORT:-29500}" --rdzv_id "${RUN_ID:-prx}" \
    --no-python prx-nb train --config "$config" "$@"
