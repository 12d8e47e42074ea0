"Checks of prx_nb.proxy that the notebook does not make: reading a real run folder, bad input, the seed-study script's recipes."
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from prx_nb.config import load_config
from prx_nb.proxy import (compute_to_reach, config_flops_per_sample, read_run, seed_summary, separation,
                          steps_for_tflop, training_tflop)
from prx_nb.shapes import OUTCOMES
from prx_nb.train import train

ROOT = Path(__file__).resolve().parent.parent


def test_read_run_matches_the_trainer(tmp_path):
    cfg = load_config(ROOT / "configs/tiny/base.toml", [f"train.out_dir={tmp_path}", "train.steps=4", "eval.every=2",
                                                         'eval.metrics=["main_object_accuracy"]'])
    result = train(cfg)
    run = read_run(tmp_path)
    assert math.isclose(run.flops_per_sample, result.flops_per_sample)
    assert [r["step"] for r in run.evals] == [2, 4]
    assert math.isclose(run.evals[-1]["tflop"], training_tflop(4, cfg.train.batch_size, result.flops_per_sample))
    assert compute_to_reach(run.evals, {"main_object_accuracy": -1.0})["step"] == 2


def test_baseline_budget_is_in_range():
    cfg = load_config(ROOT / "configs/cpu/baseline.toml")
    fps = config_flops_per_sample(cfg)
    steps = steps_for_tflop(30, cfg.train.batch_size, fps)
    assert 0 < training_tflop(steps, cfg.train.batch_size, fps) <= 30.1


def test_bad_inputs(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a run folder"):
        read_run(tmp_path)
    with pytest.raises(ValueError, match="no records"):
        seed_summary([])
    with pytest.raises(KeyError):
        separation({"a": (0.0, 1.0)}, {"b": (0.0, 1.0)}, "a")


def test_seed_script_recipes_inherit_the_baseline():
    for name in ("short-captions", "bf16-weights"):
        text = (ROOT / f"configs/cpu/{name}.toml").read_text()
        assert 'inherit = "baseline.toml"' in text


def test_score_checkpoints_script_keeps_earlier_names(tmp_path):
    """scripts/score_checkpoints.py: one entry per name, with the checkpoint's step, sampler changes and metrics; a second
    call adds to the file; a sampler change that names the run's own setting samples the same images."""
    train(load_config(ROOT / "configs/tiny/base.toml", [f"train.out_dir={tmp_path / 'run'}", "train.steps=2", "eval.every=0",
                                                       "text.max_length=64"]))   # long enough for the binding probe
    out = tmp_path / "scores.json"
    for name, sampler in (("a", []), ("b", ["--sampler", "eval.steps=4"])):    # configs/tiny samples with 4 steps
        subprocess.run([sys.executable, str(ROOT / "scripts/score_checkpoints.py"), str(out), f"{name}={tmp_path / 'run'}",
                        "--n", "4", "--metrics", "main_object_accuracy", "error_breakdown", *sampler], check=True,
                       env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True)
    stored = json.loads(out.read_text())["checkpoints"]
    assert sorted(stored) == ["a", "b"] and (stored["a"]["step"], stored["a"]["seed"], stored["a"]["n"]) == (2, 0, 4)
    assert (stored["a"]["sampler"], stored["b"]["sampler"]) == ({}, {"steps": 4})
    done = subprocess.run([sys.executable, str(ROOT / "scripts/score_checkpoints.py"), str(out), f"c={tmp_path / 'run'}",
                           "--sampler", "train.steps=3"], env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True)
    assert done.returncode != 0 and "expected an eval.KEY=VALUE" in done.stderr.strip().splitlines()[-1]
    assert "c" not in json.loads(out.read_text())["checkpoints"]         # nothing scored, nothing lost
    assert stored["a"]["metrics"] == stored["b"]["metrics"]          # same checkpoint, same samples
    assert abs(sum(stored["a"]["metrics"][f"error_breakdown/{k}"] for k in OUTCOMES) - 1) < 1e-6
    subprocess.run([sys.executable, str(ROOT / "scripts/score_checkpoints.py"), str(out), f"d={tmp_path / 'run'}",
                    "--metrics", "binding"], check=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True)
    probed = json.loads(out.read_text())["checkpoints"]["d"]
    assert "metrics" not in probed and sorted(probed["binding"]) == ["init", "trained"]      # probes only: nothing sampled
    assert all(sorted(probed["binding"][w]) == ["colour", "shape"] for w in ("init", "trained"))
