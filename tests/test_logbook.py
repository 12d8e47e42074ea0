"""`prx-nb logbook` end to end on a two-row manifest of tiny configs: the CI-sized twin of `make demo`."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRX_NB = str(Path(sys.executable).with_name("prx-nb"))
TINY = ROOT / "configs" / "tiny" / "base.toml"
BLOG = "{fid = 18.20, cmmd = 0.41, dino_mmd = 0.39, batches_per_s = 3.95}"


def manifest(folder: Path, lr: float = 1e-3) -> Path:
    (folder / "base.toml").write_text(f'inherit = "{TINY}"\n')
    (folder / "short.toml").write_text(f'inherit = "{TINY}"\n[data]\ncaptions = "short"\n[optim]\nlr = {lr}\n')
    path = folder / "logbook.toml"
    path.write_text('[presets.ci]\ntflop = 0.0002\nseeds = [0, 1]\nevals = 2\neval_samples = 8\neval_steps = 4\nworkers = 2\n'
                    f'[[rows]]\nname = "baseline"\nconfig = "base.toml"\nblog = {BLOG}\n'
                    '[[rows]]\nname = "Short captions"\nconfig = "short.toml"\n'
                    'blog = {fid = 36.84, cmmd = 0.98, dino_mmd = 1.14, batches_per_s = 3.95}\n'
                    '[[rows]]\nname = "Real images"\nwhy = "no real counterpart"\nblog = {fid = 16.6, cmmd = 0.5, dino_mmd = 0.46}\n')
    return path


def logbook(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([PRX_NB, "logbook", *args], capture_output=True, text=True, timeout=600)


def test_logbook_cli_writes_the_table_and_resumes(tmp_path):
    out, path = tmp_path / "out", manifest(tmp_path)
    first = logbook("--preset", "ci", "--out", str(out), "--manifest", str(path))
    assert first.returncode == 0, first.stderr[-2000:]
    assert f"table: {out / 'results.md'}" in first.stdout
    results = json.loads((out / "results.json").read_text())
    assert results["preset"] == "ci" and results["seconds"] > 0
    assert [r["name"] for r in results["rows"]] == ["baseline", "Short captions", "Real images"]
    short = results["rows"][1]
    assert short["blog"]["fid"] == 36.84 and short["measured"]["seeds"] == [0, 1]
    assert set(short["verdicts"]) == {"fid", "cmmd", "dino_mmd"} and short["agrees"] in (True, False, None)
    assert results["rows"][2]["measured"] == {} and results["rows"][2]["agrees"] is None
    assert {"results.md", "curves.png", "grids.png"} <= {p.name for p in out.iterdir()}
    assert "| Real images | 16.6 | 0.5 | 0.46 | - | not run |" in (out / "results.md").read_text()

    # a second call reuses every finished run; a changed row is trained again, the others are not
    manifest(tmp_path, lr=2e-3)
    again = logbook("--preset", "ci", "--out", str(out), "--manifest", str(path), "--workers", "1")
    assert again.returncode == 0, again.stderr[-2000:]
    trained = [line for line in again.stdout.splitlines() + again.stderr.splitlines() if ": trained " in line]
    reused = [line for line in again.stdout.splitlines() + again.stderr.splitlines() if ": reused " in line]
    assert len(trained) == 2 and all(line.startswith("Short captions") for line in trained), again.stdout + again.stderr
    assert len(reused) == 2


def test_logbook_cli_bad_manifest_is_one_line(tmp_path):
    bad = tmp_path / "m.toml"
    bad.write_text('[[rows]]\nname = "baseline"\nconfig = "missing.toml"\n')
    result = logbook("--out", str(tmp_path / "out"), "--manifest", str(bad))
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "missing.toml" in result.stderr
    assert not (tmp_path / "out").exists()
