"""Bad input never ends in a traceback: each case exits with status 2 and one line on stderr that names the culprit.

Most cases call the `prx-nb` entry point in this process (the same code the console script runs); a few run it as a
real subprocess to check the exit status and stderr a shell sees."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from prx_nb import checkpoints, cli

ROOT = Path(__file__).resolve().parents[1]
TINY = str(ROOT / "configs" / "tiny" / "base.toml")
torch.set_num_threads(1)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    "A tiny run trained for one step, whose checkpoint the sample/eval cases open."
    out = tmp_path_factory.mktemp("run")
    assert cli.main(["train", "--config", TINY, "train.steps=1", f"train.out_dir={out}"]) == 0
    return out


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    "Damaged inputs: a file where a folder is expected, a non-UTF-8 config, an incomplete and a garbled cache."
    d = tmp_path_factory.mktemp("files")
    (d / "file").write_text("")
    (d / "latin1.toml").write_bytes("[train]\n# caf\xe9\nsteps = 3\n".encode("latin-1"))
    (d / "loop.toml").write_text('inherit = "loop.toml"\n')
    (d / "incomplete").mkdir()
    (d / "incomplete" / "manifest.json").write_text(json.dumps(
        {"settings": {"items": 10, "shard_size": 5}, "complete": False, "shards": {}}))
    (d / "garbled").mkdir()
    (d / "garbled" / "manifest.json").write_text("{not json")
    return d


def train_case(*args):
    return ["train", "--config", TINY, *args]


NO_GPU = not torch.cuda.is_available()
CASES = [
    # -- the command line itself
    (["paint"], "'paint'"),
    (["train"], "--config"),
    (["train", "--config", "missing.toml"], "missing.toml"),
    (["train", "--config", "{files}/latin1.toml"], "not UTF-8"),
    (["train", "--config", "{files}/loop.toml"], "inherit cycle"),
    (["train", "--config", "{files}"], "config file not found"),
    # -- config values
    (train_case("train.stepz=3"), "train.stepz"),
    (train_case("train.steps=0"), "train.steps = 0"),
    (train_case("optim.betas=[0.9, 1.0]"), "optim.betas"),
    (train_case("optim.eps=-1.0"), "optim.eps"),
    (train_case("optim.weight_decay=-0.1"), "optim.weight_decay"),
    (train_case("model.mlp_ratio=0.0"), "model.mlp_ratio"),
    (train_case("model.bottleneck_size=0"), "model.bottleneck_size"),
    (train_case("text.dim=0"), "text.dim"),
    (train_case("flow.t_eps=0.0"), "flow.t_eps"),
    (train_case("data.workers=-1"), "data.workers"),
    (train_case("data.resolution=4", "model.patch_size=2"), "data.resolution = 4"),
    (train_case("train.out_dir="), "train.out_dir"),
    (train_case("techniques=[{name='nope'}]"), "'nope'"),
    (train_case("train.device=cuda:abc"), "train.device"),
    (train_case("train.device=gpu0"), "train.device"),
    *([(train_case("train.device=cuda"), "train.device")] if NO_GPU else []),
    # -- files and folders a run needs
    (train_case("train.out_dir={files}/file"), "train.out_dir"),
    (train_case("train.out_dir={files}/file/run"), "train.out_dir"),
    (train_case("text.encoder=/nonexistent/encoder"), "text.encoder"),
    (train_case("latents.kind=flux", "latents.name_or_path=/nonexistent/vae"), "latents.name_or_path"),
    (train_case("data.source=cached", "data.path=/nonexistent/cache"), "data.path"),
    (train_case("data.source=cached", "data.path={files}/incomplete"), "incomplete"),
    (train_case("data.source=cached", "data.path={files}/garbled"), "data.path"),
    # -- spiral: the output folder is checked before the experiment runs
    (["spiral", "--quick", "--out", "{files}/file"], "--out"),
    (["spiral", "--quick", "--out", "{files}/file/run"], "--out"),
    # -- sample
    (["sample", "--ckpt", "{run}", "--prompt", "a", "--out", "{tmp}/g.png", "--steps", "-3"], "--steps"),
    (["sample", "--ckpt", "{run}", "--prompt", "a", "--out", "{tmp}/g.png", "--steps", "0"], "--steps"),
    (["sample", "--ckpt", "{run}", "--prompt", "a", "--out", "{tmp}/g.png", "--seed", "-1"], "--seed"),
    (["sample", "--ckpt", "{run}", "--prompt", "a", "--out", "{tmp}/g.png", "--guidance", "nan"], "--guidance"),
    (["sample", "--ckpt", "{run}", "--prompt", "a", "--out", "{tmp}"], "--out"),
    (["sample", "--ckpt", "{run}", "--prompt", "a", "--out", "{tmp}/grid"], "--out"),
    (["sample", "--ckpt", "{run}", "--prompt", "a", "--out", "{files}/file/g.png"], "--out"),
    (["sample", "--ckpt", "{tmp}/none", "--prompt", "a", "--out", "{tmp}/g.png"], "no checkpoint found"),
    (["sample", "--ckpt", "{run}", "--prompt", "a", "--out", "{tmp}/g.png", "--device", "gpu0"], "--device"),
    *([(["sample", "--ckpt", "{run}", "--prompt", "a", "--out", "{tmp}/g.png", "--device", "cuda"], "--device")]
      if NO_GPU else []),
    (["sample", "--ckpt", "{run}", "--out", "{tmp}/g.png"], "--prompt"),
    # -- eval
    (["eval", "--ckpt", "{run}", "--n", "-4"], "--n"),
    (["eval", "--ckpt", "{run}", "--n", "0"], "--n"),
    (["eval", "--ckpt", "{run}", "--steps", "0"], "--steps"),
    (["eval", "--ckpt", "{run}", "--out", "{tmp}/results.txt"], "--out"),
    (["eval", "--ckpt", "{run}", "--out", "{tmp}"], "--out"),
    (["eval", "--ckpt", "{run}", "--n", "2", "--metrics", "nope"], "nope"),
]


def fill(args: list[str], **paths) -> list[str]:
    "Replace the {run}, {files} and {tmp} placeholders by this test's folders."
    for key, value in paths.items():
        args = [a.replace("{" + key + "}", str(value)) for a in args]
    return args


@pytest.mark.parametrize("args,culprit", CASES, ids=[" ".join(a[:1] + a[-1:])[:40] for a, _ in CASES])
def test_bad_input_is_one_line_and_exit_2(args, culprit, run_dir, files, tmp_path, capsys):
    code = cli.main(fill(args, run=run_dir, files=files, tmp=tmp_path))
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert culprit in err, err


def test_damaged_and_foreign_checkpoints(run_dir, tmp_path, capsys):
    "A bit-flipped weight file and an FSDP checkpoint without its consolidated copy are named, not loaded."
    import shutil
    ckpt = tmp_path / "ckpt"
    shutil.copytree(checkpoints.checkpoint_dirs(run_dir / "checkpoints")[-1], ckpt)
    weights = bytearray((ckpt / "model.safetensors").read_bytes())
    weights[-1] ^= 0x01
    (ckpt / "model.safetensors").write_bytes(bytes(weights))
    assert cli.main(["eval", "--ckpt", str(ckpt), "--n", "2"]) == 2
    err = capsys.readouterr().err
    assert "damaged" in err and "model.safetensors" in err and len(err.strip().splitlines()) == 1
    (ckpt / "model.safetensors").unlink()
    (ckpt / "sharded").mkdir()
    assert cli.main(["sample", "--ckpt", str(ckpt), "--prompt", "a", "--out", str(tmp_path / "g.png")]) == 2
    assert "sharded FSDP checkpoint" in capsys.readouterr().err


@pytest.mark.parametrize("args,culprit", [(["train", "--config", "missing.toml"], "missing.toml"),
                                          (["sample", "--ckpt", "x", "--prompt", "a", "--out", "g.png", "--steps", "-3"],
                                           "--steps"),
                                          (["train", "--config", TINY, "optim.lr=-1.0"], "optim.lr")])
def test_console_script_exit_status(args, culprit):
    result = subprocess.run([sys.executable, "-m", "prx_nb.cli", *args], capture_output=True, text=True, cwd=ROOT,
                            env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=120)
    assert result.returncode == 2 and culprit in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_fewer_steps_than_trained_changes_nothing(run_dir, capsys):
    "Asking a run for fewer steps than it holds reports where it stands; no checkpoint is relabelled or deleted."
    before = {p.name: (p / "model.safetensors").read_bytes() for p in checkpoints.checkpoint_dirs(run_dir / "checkpoints")}
    log = (run_dir / "train.jsonl").read_text()
    assert cli.main(["train", "--config", TINY, "train.steps=1", "train.keep_last=1", f"train.out_dir={run_dir}"]) == 0
    assert "already trained to step 1" in capsys.readouterr().out
    after = {p.name: (p / "model.safetensors").read_bytes() for p in checkpoints.checkpoint_dirs(run_dir / "checkpoints")}
    assert after == before and (run_dir / "train.jsonl").read_text() == log


def test_log_rewrite_is_atomic(tmp_path, monkeypatch):
    "A resumed run rewrites its logs through a temporary file: a failure during the rewrite leaves the old log whole."
    from prx_nb import runlog
    from prx_nb.runtime import Runtime
    log = tmp_path / "train.jsonl"
    log.write_text("".join(json.dumps({"step": s, "loss": 1.0}) + "\n" for s in (10, 20, 30)))
    original = log.read_text()

    def killed(src, dst):
        raise KeyboardInterrupt("killed during the rewrite")

    monkeypatch.setattr(runlog.os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        runlog.RunLog(tmp_path, Runtime(), 30, 20, False)
    assert log.read_text() == original
