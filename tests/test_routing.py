"TREAD and SPRINT in the trainer: two processes (gloo) match one, a resumed run repeats the routing, eval guidance runs."
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from _torchrun import losses, torchrun_train
from prx_nb import checkpoints, config, evaluation
from prx_nb import train as train_lib

ROOT = Path(__file__).resolve().parents[1]
COMMON = ["train.steps=6", "train.ckpt_every=0", "train.log_every=1", "train.progress=false"]
torch.set_num_threads(1)




def final_weights(out: Path) -> dict[str, torch.Tensor]:
    return load_file(checkpoints.checkpoint_dirs(out / "checkpoints")[-1] / "model.safetensors")


@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_sprint_two_processes_match_one(tmp_path, strategy):
    "Path-drop, grid drop, a fixed mask token and the dense stage under DDP/FSDP2: the same losses as one process."
    path = ROOT / "configs" / "tiny" / "sprint.toml"
    single = tmp_path / "single"
    train_lib.train(config.load_config(path, [*COMMON, "train.batch_size=4", f"train.out_dir={single}"]))
    out = tmp_path / strategy
    torchrun_train(tmp_path, 2, ["--config", str(path), *COMMON, "train.batch_size=2", f"dist.strategy={strategy}",
                                 f"train.out_dir={out}"])
    torch.testing.assert_close(losses(out), losses(single), rtol=1e-4, atol=1e-5)
    _, reference, _, _ = evaluation.load_for_inference(single)
    _, denoiser, _, _ = evaluation.load_for_inference(out)
    for (name, a), b in zip(reference.state_dict().items(), denoiser.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-5, msg=name)


def test_tread_resume_is_exact(tmp_path):
    "Stopped at step 3 and resumed, a TREAD run (dense from step 4) ends with the weights of an uninterrupted one."
    path = ROOT / "configs" / "tiny" / "tread.toml"
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    train_lib.train(config.load_config(path, [*COMMON, f"train.out_dir={whole}"]))
    train_lib.train(config.load_config(path, [*COMMON, "train.steps=3", f"train.out_dir={parts}"]))
    train_lib.train(config.load_config(path, [*COMMON, f"train.out_dir={parts}"]))
    a, b = final_weights(whole), final_weights(parts)
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=0, msg=name)


@pytest.mark.parametrize("kind", ["cfg", "self", "sparse"])
def test_guidance_kinds_sample(tmp_path, kind):
    "Every guidance kind samples a trained TREAD checkpoint (the CLI's sampler) into finite images in [-1, 1]."
    out = tmp_path / "run"
    train_lib.train(config.load_config(ROOT / "configs" / "tiny" / "tread.toml",
                                       [*COMMON, "train.steps=2", f"train.out_dir={out}"]))
    cfg, denoiser, text_encoder, latents = evaluation.load_for_inference(out)
    cfg.eval.guidance_kind = kind
    images = evaluation.make_generator(denoiser, text_encoder, latents, cfg, torch.device("cpu"))(["a red circle"] * 2, 0)
    assert images.shape == (2, 3, 16, 16) and torch.isfinite(images).all() and images.abs().max() <= 1
