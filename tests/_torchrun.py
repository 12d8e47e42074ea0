"Shared by the multi-process tests: `prx-nb train` under `torchrun --standalone` on CPU (gloo), one thread per process."
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENTRY = "import sys\nfrom prx_nb.cli import train_cli\nsys.exit(train_cli(sys.argv[1:]))\n"


def torchrun_train(tmp_path: Path, nproc: int, args: list[str], timeout: int = 180, env: dict | None = None) -> None:
    "Run `prx-nb train ARGS` in `nproc` processes; fail the test with the end of stderr if it does not exit 0."
    entry = tmp_path / "entry.py"
    entry.write_text(ENTRY)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", str(entry), *args]
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=timeout,
                            env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})})
    assert result.returncode == 0, result.stderr[-3000:]


def losses(out: Path) -> list[float]:
    "The logged training losses of a run folder, in order."
    return [json.loads(line)["loss"] for line in (out / "train.jsonl").read_text().splitlines()]
