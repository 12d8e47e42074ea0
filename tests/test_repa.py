"""REPA plug-in in the trainer: burn-in under torchrun (DDP and FSDP2, no unused-parameter error, same losses as one
process), resume across the stop, routing (only kept tokens; conv projector refused), offline teacher ids."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from prx_nb import config
from prx_nb import train as train_lib
from prx_nb.plugins import ConfigError
from prx_nb.repa import load_shapes_teacher

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "configs" / "tiny" / "base.toml"
COMMON = ["train.ckpt_every=0", "train.ema_decay=0.5", "schedule.warmup_steps=0", "text.caption_dropout=0.5"]
ENTRY = "import sys\nfrom prx_nb.cli import train_cli\nsys.exit(train_cli(sys.argv[1:]))\n"
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
    entry, out = tmp_path / "entry.py", tmp_path / strategy
    entry.write_text(ENTRY)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(entry),
           "--config", str(path), *COMMON, "train.steps=4", "train.batch_size=2", f"dist.strategy={strategy}",
           f"train.out_dir={out}", "train.log_every=1"]
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=240,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
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
    assert diff == {("train", "out_dir")}, row
    (repa,) = table["techniques"]
    assert (repa["name"], repa["lam"], repa["block"], repa["hidden"]) == ("repa", 0.5, 7, 0)
    assert (repa["projector"], repa["alpha"]) == (("conv", 0.6) if row.startswith("irepa") else ("mlp", None))
    assert repa["teacher"] == TEACHER_IDS[0 if row.endswith("dinov2") else 1]
