"""The installed `prx-nb` console script: dispatch, exit codes, one-line errors."""
import subprocess
import sys
from pathlib import Path

import prx_nb

PRX_NB = str(Path(sys.executable).with_name("prx-nb"))


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([PRX_NB, *args], capture_output=True, text=True, timeout=120)


def test_version_and_help():
    assert run("--version").stdout.strip() == prx_nb.__version__
    helped = run("--help")
    assert helped.returncode == 0 and "spiral" in helped.stdout and "train" in helped.stdout


def test_unknown_command_is_a_one_line_error():
    result = run("paint")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()] and "paint" in result.stderr


def test_module_entry_point_matches_console_script():
    result = subprocess.run([sys.executable, "-m", "prx_nb.cli", "--version"], capture_output=True, text=True)
    assert result.stdout.strip() == prx_nb.__version__
