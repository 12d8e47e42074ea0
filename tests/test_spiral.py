"End-to-end checks of `prx-nb spiral`: files written, JSON schema, determinism, bad arguments; the stored default grid."
import json
from dataclasses import asdict
from pathlib import Path

import pytest

from prx_nb.cli import spiral_cli as cli
from prx_nb.spiral import SpiralConfig

RESULTS = Path(__file__).resolve().parents[1] / "nbs" / "results"

SMALL = ["--quick", "--dims", "2", "16", "--steps", "30", "--width", "64"]


def run(tmp_path, name, extra=()):
    out = tmp_path / name
    assert cli(["--out", str(out), *SMALL, *extra]) == 0
    return json.loads((out / "spiral.json").read_text()), out


def test_quick_cli_writes_report_and_figure(tmp_path):
    out = tmp_path / "quick"
    assert cli(["--out", str(out), "--quick"]) == 0
    report = json.loads((out / "spiral.json").read_text())
    assert set(report) >= {"config", "seconds", "results"}
    assert isinstance(report["seconds"], float) and report["seconds"] > 0
    assert report["config"]["dims"] == [2, 16, 512] and report["config"]["steps"] == 400
    assert len(report["results"]) == 9
    for row in report["results"]:
        assert set(row) >= {"prediction", "dim", "manifold_error", "off_manifold_error"}
        assert row["prediction"] in ("x", "eps", "v") and row["dim"] in (2, 16, 512)
    assert (out / "spiral.png").stat().st_size > 10_000
    err = {(r["prediction"], r["dim"]): r for r in report["results"]}
    assert 10 * err[("x", 512)]["off_manifold_error"] < min(err[("eps", 512)]["off_manifold_error"],
                                                           err[("v", 512)]["off_manifold_error"])


def test_same_seed_same_numbers(tmp_path):
    a, _ = run(tmp_path, "a", ["--seed", "3"])
    b, _ = run(tmp_path, "b", ["--seed", "3"])
    c, _ = run(tmp_path, "c", ["--seed", "4"])
    assert a["results"] == b["results"]
    assert a["results"] != c["results"]


def test_options_reach_the_config(tmp_path):
    report, _ = run(tmp_path, "opts", ["--predictions", "x", "v", "--seed", "7"])
    assert report["config"]["predictions"] == ["x", "v"] and report["config"]["seed"] == 7
    assert report["config"]["width"] == 64 and report["config"]["dims"] == [2, 16]
    assert [(r["prediction"], r["dim"]) for r in report["results"]] == [("x", 2), ("x", 16), ("v", 2), ("v", 16)]


@pytest.mark.parametrize("bad, needle", [
    (["--predictions", "x", "score"], "'score'"),
    (["--dims", "1", "16"], "1 is not >= 2"),
    (["--dims", "2", "sixteen"], "'sixteen'"),
    (["--steps", "1.5"], "'1.5'"),
    (["--steps", "0"], "0 is not >= 1"),
    (["--colour", "red"], "--colour"),
])
def test_bad_arguments_exit_2_with_one_line(tmp_path, capsys, bad, needle):
    assert cli(["--out", str(tmp_path / "never"), *bad]) == 2
    err = capsys.readouterr().err
    assert err.startswith("prx-nb spiral: error:") and needle in err and err.count("\n") == 1, err
    assert not (tmp_path / "never").exists()


def test_missing_out_is_a_usage_error(capsys):
    assert cli(["--quick"]) == 2
    assert "--out" in capsys.readouterr().err


def test_stored_default_grid_is_current_and_shows_the_figure():
    "The stored full grid (what the chapter shows without re-running) was made with today's defaults and keeps its claims."
    stored = json.loads((RESULTS / "spiral_default.json").read_text())
    reports = [stored, *stored["seed_repeats"]]
    assert sorted(r["config"]["seed"] for r in reports) == [0, 1]
    for report in reports:
        assert set(report) >= {"config", "seconds", "results"}
        assert report["config"] == json.loads(json.dumps(asdict(SpiralConfig(seed=report["config"]["seed"]))))
        err = {(r["prediction"], r["dim"]): r["manifold_error"] for r in report["results"]}
        assert len(err) == 12
        assert all(err[(p, 2)] <= 0.05 for p in ("x", "eps", "v")), err
        assert 3 * err[("x", 512)] <= min(err[("eps", 512)], err[("v", 512)]), err
    assert (RESULTS / "spiral_default.png").stat().st_size > 10_000
