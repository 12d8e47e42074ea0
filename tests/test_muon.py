"""Muon under torchrun (CPU, gloo): DDP and FSDP2 (uneven shards too) match one process; a 2-process run resumes exactly.

Without Nesterov the update is the momentum buffer itself: the broadcast of the orthogonalised update must not
land in it. AdamW's eps is the Muon row's 1e-8: at the tiny config's 1e-15 an AdamW update of a near-zero gradient
is +-lr by the sign of its rounding noise, which differs between 1 and 2 processes.
"""
import json
from pathlib import Path

import pytest
import torch

from _torchrun import torchrun_train
from prx_nb import config, evaluation
from prx_nb import train as train_lib

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "configs" / "tiny" / "base.toml"
COMMON = ["optim.name=muon", "optim.split_fused=true", "optim.nesterov=false", "optim.eps=1e-8", "optim.weight_decay=0.01", "schedule.warmup_steps=0",
          "train.ckpt_every=0", "train.ema_decay=0.5"]


def log(out: Path) -> dict[int, dict]:
    return {r["step"]: r for r in map(json.loads, (out / "train.jsonl").read_text().splitlines())}


def single(out: Path, batch: int, steps: int, *extra: str) -> Path:
    train_lib.train(config.load_config(TINY, [*COMMON, f"train.steps={steps}", f"train.batch_size={batch}",
                                              f"train.out_dir={out}", *extra]))
    return out


def torchrun(tmp_path: Path, out: Path, strategy: str, nproc: int, steps: int, *extra: str) -> Path:
    "`nproc` processes with batch 2 each."
    torchrun_train(tmp_path, nproc, ["--config", str(TINY), *COMMON, f"train.steps={steps}", "train.batch_size=2",
                                     f"dist.strategy={strategy}", f"train.out_dir={out}", *extra])
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    "4-step runs: one process at global batch 4 and 6; 2 processes under DDP and FSDP2; 3 under FSDP2."
    tmp = tmp_path_factory.mktemp("muon")
    nesterov = "optim.nesterov=true"          # PRX's setting, on the 3-process run (the others test the aliasing case)
    out = {("single", 2): single(tmp / "single2", 4, 4), ("single", 3): single(tmp / "single3", 6, 4, nesterov)}
    for strategy, nproc in (("ddp", 2), ("fsdp", 2), ("fsdp", 3)):
        extra = [nesterov] if nproc == 3 else []
        out[strategy, nproc] = torchrun(tmp, tmp / f"{strategy}{nproc}", strategy, nproc, 4, *extra)
    return out


@pytest.mark.parametrize("strategy,nproc", [("ddp", 2), ("fsdp", 2), ("fsdp", 3)])
def test_muon_on_several_processes_matches_one(runs, strategy, nproc):
    "FSDP2 on 3 processes shards 64-row weights unevenly (torch.chunk: 22/22/20 rows), with Nesterov on."
    out, reference = runs[strategy, nproc], runs["single", nproc]
    a, b = log(out), log(reference)
    torch.testing.assert_close([a[s]["loss"] for s in range(1, 5)], [b[s]["loss"] for s in range(1, 5)],
                               rtol=1e-4, atol=1e-5)
    _, ours, _, _ = evaluation.load_for_inference(out)
    _, theirs, _, _ = evaluation.load_for_inference(reference)
    mine = ours.state_dict()
    for name, x in theirs.state_dict().items():
        torch.testing.assert_close(x, mine[name], rtol=1e-3, atol=1e-5, msg=name)


@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_two_process_muon_run_resumes_exactly(tmp_path, runs, strategy):
    "Stop after 2 steps, resume to 4: steps 3 and 4 are the uninterrupted run's, so every momentum buffer was saved."
    resumed = torchrun(tmp_path, tmp_path / "resumed", strategy, 2, 2)
    torchrun(tmp_path, resumed, strategy, 2, 4)
    a, b = log(resumed), log(runs[strategy, 2])
    for step in (3, 4):
        assert a[step]["loss"] == b[step]["loss"], step
        assert a[step]["grad_norm"] == b[step]["grad_norm"], step
    _, x, _, _ = evaluation.load_for_inference(resumed)          # and the final weights, bit for bit
    _, y, _, _ = evaluation.load_for_inference(runs[strategy, 2])
    other = y.state_dict()
    for name, value in x.state_dict().items():
        assert torch.equal(value, other[name]), name
