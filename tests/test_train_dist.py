"Trainer under torchrun (2 CPU processes, gloo): DDP and FSDP2 match a 1-process run with the same global batch."
from pathlib import Path

import pytest
import torch

from _torchrun import losses, torchrun_train
from prx_nb import checkpoints, config, evaluation
from prx_nb import train as train_lib

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "configs" / "tiny" / "base.toml"
COMMON = ["train.steps=3", "train.ckpt_every=0", "text.caption_dropout=0.5", "train.ema_decay=0.5", "eval.every=3"]




@pytest.fixture(scope="module")
def single(tmp_path_factory) -> Path:
    "The reference: one process, global batch 4."
    out = tmp_path_factory.mktemp("single")
    torch.set_num_threads(1)
    train_lib.train(config.load_config(TINY, [*COMMON, "train.batch_size=4", f"train.out_dir={out}"]))
    return out


def torchrun(tmp_path: Path, strategy: str) -> Path:
    "Two processes with batch 2 each (global batch 4)."
    out = tmp_path / strategy
    torchrun_train(tmp_path, 2, ["--config", str(TINY), *COMMON, "train.batch_size=2", f"dist.strategy={strategy}",
                                 f"train.out_dir={out}"], timeout=120)
    return out


@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_two_processes_match_one(tmp_path, single, strategy):
    out = torchrun(tmp_path, strategy)
    torch.testing.assert_close(losses(out), losses(single), rtol=1e-4, atol=1e-5)
    # the final checkpoint (sharded under FSDP2) loads on one process and holds the same (EMA) weights
    _, reference, _, _ = evaluation.load_for_inference(single)
    _, denoiser, _, _ = evaluation.load_for_inference(out)
    if strategy == "fsdp":
        assert (checkpoints.checkpoint_dirs(out / "checkpoints")[-1] / "sharded").is_dir()
    assert (out / "samples" / "step_0000003.png").is_file()          # evaluation ran on every process
    for (name, a), b in zip(reference.state_dict().items(), denoiser.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-5, msg=name)
