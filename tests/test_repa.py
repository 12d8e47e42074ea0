"""REPA plug-in in the trainer: burn-in under torchrun (DDP and FSDP2, no unused-parameter error, same losses as one
process), resume across the stop, routing (only kept tokens; conv projector refused), offline teacher ids, training
from cached teacher tokens (CLI, torchrun, refused for another teacher) and sampling a REPA checkpoint with no teacher."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from _torchrun import torchrun_train
from prx_nb import config
from prx_nb import train as train_lib
from prx_nb.cache import build_cache
from prx_nb.data import ShapesSource
from prx_nb.latents import IdentityLatents
from prx_nb.plugins import ConfigError
from prx_nb.repa import load_shapes_teacher, load_teacher

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "configs" / "tiny" / "base.toml"
COMMON = ["train.ckpt_every=0", "train.ema_decay=0.5", "schedule.warmup_steps=0", "text.caption_dropout=0.5"]
REPA = """
[[techniques]]
name = "repa"
teacher = "shapes-weak"
block = 0
hidden = 0
"""


def write_config(tmp_path: Path, extra: str = "", name: str = "repa.toml") -> Path:
    "The tiny config plus REPA (weak shapes teacher: quick to train when no cache has it), plus `extra` settings."
    path = tmp_path / name
    path.write_text(f'inherit = "{TINY}"\n{REPA}{extra}')
    return path


def log(out: Path) -> dict[int, dict]:
    "Last logged record of each step (a resumed run appends)."
    return {r["step"]: r for r in map(json.loads, (out / "train.jsonl").read_text().splitlines())}


@pytest.fixture(scope="module", autouse=True)
def cached_teacher():
    "Train the weak teacher once, before any process needs it."
    load_shapes_teacher("shapes-weak")


def single(path: Path, out: Path, steps: int, *extra: str) -> Path:
    train_lib.train(config.load_config(path, [*COMMON, f"train.steps={steps}", "train.batch_size=4",
                                              f"train.out_dir={out}", *extra]))
    return out


@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_burn_in_under_torchrun_matches_one_process(tmp_path, strategy):
    "Alignment stops at step 2 of 4: the projector gets no real gradient afterwards and DDP/FSDP2 raise nothing."
    path = write_config(tmp_path, "stop_step = 2\n")
    reference = log(single(path, tmp_path / "single", 4))
    out = tmp_path / strategy
    torchrun_train(tmp_path, 2, ["--config", str(path), *COMMON, "train.steps=4", "train.batch_size=2",
                                 f"dist.strategy={strategy}", f"train.out_dir={out}", "train.log_every=1"], timeout=240)
    records = log(out)
    torch.testing.assert_close([records[s]["loss"] for s in range(1, 5)], [reference[s]["loss"] for s in range(1, 5)],
                               rtol=1e-4, atol=1e-5)
    align = {s: records[s]["loss/repa/align"] for s in range(1, 5)}
    assert align[1] != 0 and align[2] != 0 and align[3] == 0 and align[4] == 0, align


def test_resume_across_the_stop_is_exact(tmp_path):
    path = write_config(tmp_path, "stop_step = 3\n")
    whole = log(single(path, tmp_path / "whole", 5))
    resumed = single(path, tmp_path / "resumed", 2, "train.ckpt_every=2")
    resumed = log(single(path, resumed, 5, "train.ckpt_every=2"))
    torch.testing.assert_close([resumed[s]["loss"] for s in range(1, 6)], [whole[s]["loss"] for s in range(1, 6)])
    assert resumed[4]["loss/repa/align"] == 0 and resumed[3]["loss/repa/align"] != 0


def test_routing_aligns_kept_tokens_and_refuses_a_conv_projector(tmp_path):
    tread = '\n[[techniques]]\nname = "tread"\nratio = 0.5\nstart = 0\nend = 1\n'
    path = write_config(tmp_path, tread)
    result = train_lib.train(config.load_config(path, [*COMMON, "train.steps=2", f"train.out_dir={tmp_path / 'run'}"]))
    assert result.step == 2 and all(torch.isfinite(torch.tensor(r["loss"])) for r in result.history)
    conv = write_config(tmp_path, 'projector = "conv"\n' + tread, "conv.toml")
    with pytest.raises(ConfigError, match=r"techniques.repa.projector = 'conv' with techniques.tread") as error:
        config.load_config(conv)
    assert "\n" not in str(error.value)


def test_attention_projector_aligns_routed_tokens_at_their_positions(tmp_path):
    "PRX's iREPA under TREAD: the attention projector takes the kept tokens with their grid positions."
    tread = '\n[[techniques]]\nname = "tread"\nratio = 0.5\nstart = 0\nend = 1\n'
    path = write_config(tmp_path, 'projector = "attention"\nheads = 4\nper_token_alpha = true\n' + tread)
    result = train_lib.train(config.load_config(path, [*COMMON, "train.steps=2", f"train.out_dir={tmp_path / 'run'}"]))
    assert result.step == 2 and all(r["loss/repa/align"] != 0 and torch.isfinite(torch.tensor(r["loss"]))
                                    for r in result.history)
    with pytest.raises(ConfigError, match="techniques.repa.heads = 3"):
        config.load_config(write_config(tmp_path, 'projector = "attention"\nheads = 3\n', "bad.toml"))


TEACHER_IDS = ["facebook/dinov2-with-registers-large", "facebook/dinov3-vitl16-pretrain-lvd1689m",
               "timm:vit_large_patch14_reg4_dinov2.lvd142m"]


def test_teachers_that_are_not_on_disk_give_one_line_errors():
    "As on a machine without the weights: no download, a one-line ConfigError naming the key."
    code = ("from prx_nb.repa import load_teacher\nfrom prx_nb.plugins import ConfigError\nimport sys\n"
            "for name in sys.argv[1:]:\n"
            "    try:\n        load_teacher(name)\n    except ConfigError as e:\n        print(str(e).replace('\\n', ' NEWLINE '))\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-c", code, *TEACHER_IDS], capture_output=True, text=True, cwd=ROOT,
                            timeout=120, env=env)
    lines = result.stdout.splitlines()
    assert result.returncode == 0 and len(lines) == len(TEACHER_IDS), result.stderr[-2000:]
    for name, line in zip(TEACHER_IDS, lines):
        assert line.startswith(f"techniques.repa.teacher = {name!r}: cannot load it") and "NEWLINE" not in line, line


@pytest.mark.parametrize("row", ["repa-dinov2", "repa-dinov3", "irepa-dinov2", "irepa-dinov3"])
def test_full_scale_rows_add_one_repa_plugin(row):
    base = config.config_to_table(config.load_config(ROOT / "configs/prx-1.2b/baseline.toml"))
    table = config.config_to_table(config.load_config(ROOT / f"configs/prx-1.2b/{row}.toml"))
    diff = {(s, k) for s in base if isinstance(base[s], dict) for k in base[s] if base[s][k] != table[s][k]}
    assert diff == {("train", "out_dir"), ("data", "path")}, row            # a cache with the teacher's tokens
    assert table["data"]["path"] == f"{base['data']['path']}-{row.split('-')[1]}"
    (repa,) = table["techniques"]
    assert (repa["name"], repa["lam"], repa["block"], repa["hidden"]) == ("repa", 0.5, 7, 0)
    assert (repa["projector"], repa["alpha"]) == (("conv", 0.6) if row.startswith("irepa") else ("mlp", None))
    assert repa["teacher"] == TEACHER_IDS[0 if row.endswith("dinov2") else 1]


OFFLINE = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}


def tiny_dinov2(folder: Path) -> Path:
    "A tiny random DINOv2 with registers saved with save_pretrained (loaded back by from_pretrained: offline)."
    from transformers import Dinov2WithRegistersConfig, Dinov2WithRegistersModel
    Dinov2WithRegistersModel(Dinov2WithRegistersConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                                       intermediate_size=32, num_register_tokens=2, image_size=28,
                                                       patch_size=7)).save_pretrained(folder)
    return folder


def teacher_cache(tmp_path: Path, teacher: str, dtype=torch.float32) -> Path:
    "32 shapes scenes at the tiny config's 16 px in pixel space, with `teacher`'s tokens on its 8x8 grid (patch 2)."
    build_cache(ShapesSource(32, seed=0, size=16), tmp_path / "cache", IdentityLatents(), resolution=16, shard_size=16,
                teacher=load_teacher(teacher), teacher_patch=2, teacher_dtype=dtype)
    return tmp_path / "cache"


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "prx_nb.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=300, env=OFFLINE)


def test_cli_trains_from_cached_tokens_and_samples_with_no_teacher(tmp_path):
    "The teacher's folder is deleted after the cache is built: training never loads it, sampling does not need it."
    teacher = tiny_dinov2(tmp_path / "teacher")
    data = teacher_cache(tmp_path, str(teacher))
    shutil.rmtree(teacher)
    path = write_config(tmp_path)
    cached = ["data.source=cached", f"data.path={data}", "train.steps=2"]
    result = cli("train", "--config", str(path), *COMMON, *cached, f"techniques.repa.teacher={teacher}",
                 f"train.out_dir={tmp_path / 'run'}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert all(r["loss/repa/align"] != 0 for r in log(tmp_path / "run").values())
    result = cli("sample", "--ckpt", str(tmp_path / "run"), "--prompt", "a red circle", "--out", str(tmp_path / "s.png"))
    assert result.returncode == 0 and (tmp_path / "s.png").is_file(), result.stderr[-3000:]
    result = cli("train", "--config", str(path), *COMMON, *cached, f"train.out_dir={tmp_path / 'other'}")
    lines = result.stderr.strip().splitlines()
    assert result.returncode != 0 and len(lines) == 1 and "techniques.repa.teacher = 'shapes-weak'" in lines[0], result.stderr


def test_live_teacher_checkpoint_samples_with_no_teacher(tmp_path):
    teacher = tiny_dinov2(tmp_path / "teacher")
    single(write_config(tmp_path), tmp_path / "run", 2, f"techniques.repa.teacher={teacher}")
    shutil.rmtree(teacher)
    result = cli("sample", "--ckpt", str(tmp_path / "run"), "--prompt", "a red circle", "--out", str(tmp_path / "s.png"))
    assert result.returncode == 0 and (tmp_path / "s.png").is_file(), result.stderr[-3000:]


def test_cached_tokens_equal_the_live_teacher_and_burn_in_under_torchrun(tmp_path):
    "From cached fp32 tokens: the live teacher's losses (one process), and the same under 2-process DDP, across a stop."
    data = teacher_cache(tmp_path, "shapes-weak")
    path = write_config(tmp_path, "stop_step = 2\n")
    cached = ["data.source=cached", f"data.path={data}"]
    live = log(single(path, tmp_path / "live", 4, *cached, "techniques.repa.cached=false"))
    reference = log(single(path, tmp_path / "single", 4, *cached, "techniques.repa.cached=true"))
    torch.testing.assert_close([reference[s]["loss"] for s in range(1, 5)], [live[s]["loss"] for s in range(1, 5)])
    out = tmp_path / "ddp"
    torchrun_train(tmp_path, 2, ["--config", str(path), *COMMON, *cached, "train.steps=4", "train.batch_size=2",
                                 f"train.out_dir={out}"], timeout=240, env={"HF_HUB_OFFLINE": "1"})
    records = log(out)
    torch.testing.assert_close([records[s]["loss"] for s in range(1, 5)], [reference[s]["loss"] for s in range(1, 5)],
                               rtol=1e-4, atol=1e-5)
    assert [records[s]["loss/repa/align"] == 0 for s in range(1, 5)] == [False, False, True, True]


def test_cached_true_without_teacher_tokens_is_refused(tmp_path):
    build_cache(ShapesSource(8, size=16), tmp_path / "cache", IdentityLatents(), resolution=16)
    path = write_config(tmp_path, "cached = true\n")
    with pytest.raises(ConfigError, match="techniques.repa.cached = true") as error:
        single(path, tmp_path / "run", 1, "data.source=cached", f"data.path={tmp_path / 'cache'}")
    assert "\n" not in str(error.value)
    with pytest.raises(ConfigError, match="techniques.repa.cached = True"):
        config.load_config(path)                                  # shapes data: no cache to read tokens from
