"Shapes autoencoders as latent spaces: tiny twins train through the real config, loading and evaluation paths."
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from prx_nb import config
from prx_nb import train as train_lib
from prx_nb.autoencoder import SHAPES_AUTOENCODERS, load_shapes_latents, shapes_autoencoder_path
from prx_nb.evaluation import load_for_inference
from prx_nb.latents import KLLatents, load_latent_space

ROOT = Path(__file__).resolve().parents[1]
torch.set_num_threads(1)
TINY = {"tiny/latent.toml": "tiny-plain", "tiny/latent-aligned.toml": "tiny-aligned"}


@pytest.mark.parametrize("name", sorted(TINY))
def test_tiny_twin_trains_two_steps_and_samples_pixels(name, tmp_path):
    "The tiny autoencoders train on first use (seconds); the denoiser trains in their latents; evaluation decodes to pixels."
    cfg = config.load_config(ROOT / "configs" / name, ["train.steps=2", "eval.every=2", "eval.n_samples=4",
                                                       'eval.metrics=["main_object_accuracy", "judge_fid"]',
                                                       f"train.out_dir={tmp_path}"])
    assert (cfg.latents.kind, cfg.latents.name_or_path) == ("shapes-ae", TINY[name])
    result = train_lib.train(cfg)
    assert result.step == 2 and all(torch.isfinite(torch.tensor(r["loss"])) for r in result.history)
    evals = [json.loads(line) for line in (tmp_path / "eval.jsonl").read_text().splitlines()]
    assert 0.0 <= evals[-1]["main_object_accuracy"] <= 1.0 and evals[-1]["judge_fid"] >= 0
    _, denoiser, _, latents = load_for_inference(result.checkpoint)
    assert isinstance(latents, KLLatents) and latents.factor == 4
    assert denoiser.config.in_channels == 4 and denoiser.config.patch_size == 2


def test_cpu_latent_rows_differ_by_one_change():
    """latent-aligned and latent-v-pred are configs/cpu/latent.toml plus one change; latent.toml is the baseline plus the
    space (at the autoencoder's 32 px)."""
    def table(name):
        return config.config_to_table(config.load_config(ROOT / "configs" / "cpu" / f"{name}.toml"))

    def diff(a, b):
        return {(s, k) for s in a if isinstance(a[s], dict) for k in a[s] if a[s][k] != b[s][k]} - {("train", "out_dir")}

    latent = table("latent")
    assert diff(table("baseline"), latent) == {("latents", "kind"), ("latents", "name_or_path"), ("model", "patch_size"),
                                               ("data", "resolution")}
    assert diff(latent, table("latent-aligned")) == {("latents", "name_or_path")}
    assert diff(latent, table("latent-aligned-encoder")) == {("latents", "name_or_path")}
    assert diff(latent, table("latent-v-pred")) == {("flow", "prediction")}
    aligned, repa = table("latent-aligned"), table("latent-aligned-repa")
    assert diff(aligned, repa) == set() and [t["name"] for t in repa["techniques"]] == ["repa"] and not aligned["techniques"]
    assert repa["techniques"] == table("repa")["techniques"]          # the pixel REPA row's settings


@pytest.mark.parametrize("override, message", [
    ("latents.name_or_path=sd-vae", "latents.name_or_path = 'sd-vae'"),
    ("model.patch_size=3", "model.patch_size = 3 does not divide the latent size 8"),
    ("data.resolution=30", "data.resolution = 30"),
])
def test_bad_latent_settings_fail_in_one_line(override, message):
    with pytest.raises(config.ConfigError) as info:
        config.load_config(ROOT / "configs" / "cpu" / "latent.toml", [override])
    assert message in str(info.value) and "\n" not in str(info.value)


def test_cli_reports_a_bad_autoencoder_name(tmp_path):
    out = subprocess.run([str(Path(sys.executable).with_name("prx-nb")), "train", "--config", str(ROOT / "configs/tiny/latent.toml"),
                          "latents.name_or_path=nope", f"train.out_dir={tmp_path}"], capture_output=True, text=True)
    assert out.returncode != 0 and "latents.name_or_path = 'nope'" in out.stderr and "Traceback" not in out.stderr


def test_cached_folder_is_a_diffusers_autoencoder(tmp_path):
    "The cache holds a real AutoencoderKL folder with per-channel statistics; a folder path works as name_or_path too."
    from diffusers import AutoencoderKL
    path = shapes_autoencoder_path("tiny-plain", tmp_path)
    vae = AutoencoderKL.from_pretrained(path)
    assert len(vae.config.latents_mean) == len(vae.config.latents_std) == 4
    by_path = load_latent_space("shapes-ae", str(path))
    by_name = load_shapes_latents("tiny-plain", cache_dir=tmp_path)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    assert torch.equal(by_path.encode(x), by_name.encode(x))
    assert set(SHAPES_AUTOENCODERS) >= {"plain", "aligned", "aligned-encoder"}
