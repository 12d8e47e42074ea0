"x-prediction configs: a tiny twin of each full-scale x-pred config keeps its flow settings and trains two steps."
from pathlib import Path

import pytest
import torch

from prx_nb import config
from prx_nb import train as train_lib

ROOT = Path(__file__).resolve().parents[1]
torch.set_num_threads(1)   # tiny models: one thread is fastest and avoids oversubscription

SHRINK = ["model.preset=tiny", "model.hidden_size=64", "model.num_heads=2", "text.max_length=16", "train.device=cpu",
          "train.compile=false", "train.steps=2", "train.batch_size=2", "train.log_every=1", "eval.every=0",
          "train.progress=false", "data.workers=0"]
TWINS = {   # config -> what makes it runnable on a CPU in seconds, beyond SHRINK
    # latent row: random Flux-shaped latents and text (no autoencoder, no T5Gemma download), 64 px -> 8x8 latents
    "prx-1.2b/x-pred-latent.toml": ["data.source=synthetic", "data.resolution=64"],
    # pixel row: 32 px shapes with the word encoder; patch 8 (192 values) through a 16-wide bottleneck
    "prx-jit-1024/baseline.toml": ["data.source=shapes", "data.resolution=32", "model.patch_size=8",
                                   "model.bottleneck_size=16", "text.encoder=word", "text.dim=32",
                                   'eval.metrics=["caption_accuracy"]'],
}


@pytest.mark.parametrize("name", sorted(TWINS))
def test_tiny_twin_of_each_xpred_config_trains_two_steps(name, tmp_path):
    full = config.load_config(ROOT / "configs" / name)
    twin = config.load_config(ROOT / "configs" / name, [*SHRINK, *TWINS[name], f"train.out_dir={tmp_path}"])
    assert (full.flow.prediction, full.flow.loss_space, full.flow.t_eps) == ("x", "v", 0.05)   # the rows' own settings
    assert not any(o.startswith(("flow.", "latents.", "eval.shift")) for o in [*SHRINK, *TWINS[name]])   # ... kept by the twin
    result = train_lib.train(twin)
    assert result.step == 2 and all(torch.isfinite(torch.tensor(r["loss"])) for r in result.history)


def test_pixel_twin_has_the_bottleneck_embedding(tmp_path):
    name = "prx-jit-1024/baseline.toml"
    twin = config.load_config(ROOT / "configs" / name, [*SHRINK, *TWINS[name], f"train.out_dir={tmp_path}"])
    from prx_nb.objective import build_denoiser
    denoiser = build_denoiser(twin, in_channels=3, text_dim=twin.text.dim)
    shapes = sorted(tuple(p.shape) for n, p in denoiser.named_parameters() if "img_in" in n and p.ndim == 2)
    assert shapes == [(16, 192), (64, 16)]          # Linear(192 -> 16) then Linear(16 -> 64): the JiT bottleneck
