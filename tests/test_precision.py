"bf16 storage in the trainer: the dtype audit warns at start, and the stochastic-rounding / Kahan update options train and resume exactly."
import re
import warnings
from pathlib import Path

import pytest
import torch

from prx_nb import config
from prx_nb import train as train_lib
from prx_nb.checkpoints import checkpoint_dirs
from prx_nb.precision import PrecisionWarning

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "configs" / "tiny" / "base.toml"
torch.set_num_threads(1)   # tiny models: one thread is fastest and avoids oversubscription


def tiny(out: Path, *overrides: str) -> config.RunConfig:
    return config.load_config(TINY, ["train.steps=2", "train.log_every=1", "train.progress=false", "eval.every=0",
                                     f"train.out_dir={out}", *overrides])


def test_audit_warns_for_bf16_weights_and_stays_quiet_for_fp32(tmp_path):
    with pytest.warns(PrecisionWarning, match=r"not stored in fp32: denoiser\.transformer\.\S+ \(bfloat16\)"):
        train_lib.train(tiny(tmp_path / "bf16", "train.weights_dtype=bfloat16"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train_lib.train(tiny(tmp_path / "fp32"))
    assert not [w for w in caught if issubclass(w.category, PrecisionWarning)]


def test_resumed_audit_sees_the_optimizer_state(tmp_path):
    "After a resume the AdamW moments are audited too: each bf16 parameter brings exp_avg and exp_avg_sq."
    cfg = tiny(tmp_path, "train.weights_dtype=bfloat16")
    counts = []
    for steps in (2, 3):
        cfg.train.steps = steps
        with pytest.warns(PrecisionWarning) as caught:
            train_lib.train(cfg)
        counts.append(int(re.search(r"(\d+) tensor\(s\)", str(caught[0].message)).group(1)))
    assert counts[0] > 0 and counts[1] == 3 * counts[0]


@pytest.mark.parametrize("mode", ["stochastic", "kahan"])
def test_bf16_update_trains_and_resumes_exactly(mode, tmp_path):
    "Two steps, then two more after a resume, equal four straight steps bit for bit (the hook's state is checkpointed)."
    extra = ["train.weights_dtype=bfloat16", f"optim.bf16_update={mode}"]
    with pytest.warns(PrecisionWarning):
        first = train_lib.train(tiny(tmp_path / "resumed", *extra))
        assert first.step == 2 and all(torch.isfinite(torch.tensor(r["loss"])) for r in first.history)
        state = torch.load(checkpoint_dirs(tmp_path / "resumed" / "checkpoints")[-1] / "optimizer.pt", weights_only=True)
        assert all(s["bf16_updates"] == 2 for s in state["state"].values())
        assert all(("kahan_comp" in s) == (mode == "kahan") for s in state["state"].values())
        resumed = train_lib.train(tiny(tmp_path / "resumed", *extra, "train.steps=4"))
        straight = train_lib.train(tiny(tmp_path / "straight", *extra, "train.steps=4"))
    assert [r["loss"] for r in resumed.history] == [r["loss"] for r in straight.history[2:]]
    assert [r["grad_norm"] for r in resumed.history] == [r["grad_norm"] for r in straight.history[2:]]


def test_bf16_update_differs_from_plain_bf16(tmp_path):
    "The option is wired: with the same seed, stochastic rounding changes the trajectory of plain bf16 storage."
    losses = {}
    for mode in ("nearest", "stochastic"):
        with pytest.warns(PrecisionWarning):
            result = train_lib.train(tiny(tmp_path / mode, "train.weights_dtype=bfloat16", f"optim.bf16_update={mode}",
                                          "train.steps=3"))
        losses[mode] = [r["loss"] for r in result.history]
    assert losses["nearest"][0] == losses["stochastic"][0] and losses["nearest"][1:] != losses["stochastic"][1:]


def test_bf16_update_needs_bf16_weights():
    with pytest.raises(config.ConfigError, match="optim.bf16_update"):
        config.check_config(config.load_config(TINY, ["optim.bf16_update=kahan"]))
