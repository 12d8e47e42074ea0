"Trainer: config validation, CLI errors, exact resume after SIGTERM, guard rails, export."
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from prx_nb import checkpoints, cli, config, evaluation, objective, runtime
from prx_nb import train as train_lib

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "configs" / "tiny" / "base.toml"
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}   # tiny models: one thread is fastest and avoids oversubscription
torch.set_num_threads(1)                        # the same in this process as in the subprocesses
RUN = [sys.executable, "-c", "import sys; from prx_nb.cli import train_cli; sys.exit(train_cli(sys.argv[1:]))"]


def run_cli(capsys, *args: str) -> tuple[int, str]:
    "Run `prx-nb train ARGS` in this process; return (exit status, stderr)."
    code = cli.train_cli([str(a) for a in args])
    return code, capsys.readouterr().err


def read_log(out: Path) -> dict[int, dict]:
    "Last logged record of each step (a resumed run appends)."
    return {r["step"]: r for r in map(json.loads, (out / "train.jsonl").read_text().splitlines())}


# -- configs -------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", sorted(p for p in (ROOT / "configs").rglob("*.toml") if p.name != "logbook.toml"),
                         ids=lambda p: str(p.relative_to(ROOT)))   # logbook.toml is the logbook's manifest (nbs/20_logbook.ipynb)
def test_every_config_file_is_valid(path):
    cfg = config.load_config(path)
    assert cfg.train.steps >= 1


CPU_CONFIGS = sorted([*(ROOT / "configs" / "cpu").glob("*.toml"), *(ROOT / "configs" / "tiny").glob("*.toml")])


@pytest.mark.parametrize("path", CPU_CONFIGS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_cpu_config_trains_two_steps(path, tmp_path):
    "A config that only loads is not tested: each CPU and tiny config trains (bf16 stored weights included)."
    probe = config.load_config(path)
    # the full shapes autoencoders train ~2 min each on first use; the config is tested on the tiny one of its kind
    small_ae = ([f"latents.name_or_path=tiny-{'aligned' if 'aligned' in probe.latents.name_or_path else 'plain'}"]
                if probe.latents.kind == "shapes-ae" and not probe.latents.name_or_path.startswith("tiny") else [])
    cfg = config.load_config(path, ["train.steps=2", "train.batch_size=2", "train.log_every=1", "eval.every=0",
                                    "train.progress=false", f"train.out_dir={tmp_path}", *small_ae])
    result = train_lib.train(cfg)
    assert result.step == 2 and all(torch.isfinite(torch.tensor(r["loss"])) for r in result.history)


def test_rows_differ_from_baseline_by_one_change():
    base = config.config_to_table(config.load_config(ROOT / "configs/prx-1.2b/baseline.toml"))
    for row, (section, key, value) in {"short-captions": ("data", "captions", "short"),
                                       "bf16-weights": ("train", "weights_dtype", "bfloat16"),
                                       "x-pred-latent": ("flow", "prediction", "x")}.items():
        table = config.config_to_table(config.load_config(ROOT / f"configs/prx-1.2b/{row}.toml"))
        diff = {(s, k) for s in base if isinstance(base[s], dict) for k in base[s] if base[s][k] != table[s][k]}
        assert diff == {(section, key), ("train", "out_dir")}, row
        assert table[section][key] == value


def test_technique_rows_add_one_plugin_to_the_baseline():
    base = config.config_to_table(config.load_config(ROOT / "configs/prx-1.2b/baseline.toml"))
    for row, technique in {"contrastive": {"name": "contrastive", "lam": 0.05, "negatives": "roll"}}.items():
        table = config.config_to_table(config.load_config(ROOT / f"configs/prx-1.2b/{row}.toml"))
        assert table["techniques"] == [technique], row
        diff = {(s, k) for s in base if isinstance(base[s], dict) for k in base[s] if base[s][k] != table[s][k]}
        assert diff == {("train", "out_dir")}, row


def test_optimizer_row_changes_only_the_optimizer():
    base = config.config_to_table(config.load_config(ROOT / "configs/prx-1.2b/baseline.toml"))
    table = config.config_to_table(config.load_config(ROOT / "configs/prx-1.2b/muon.toml"))
    diff = {(s, k) for s in base if isinstance(base[s], dict) for k in base[s] if base[s][k] != table[s][k]}
    assert diff == {("optim", "name"), ("optim", "eps"), ("train", "out_dir")}
    assert (table["optim"]["name"], table["optim"]["eps"]) == ("muon", 1e-8)


def test_baseline_matches_the_reference_settings():
    cfg = config.load_config(ROOT / "configs/prx-1.2b/baseline.toml")
    assert (cfg.optim.lr, cfg.optim.betas, cfg.optim.eps, cfg.optim.weight_decay, cfg.optim.grad_clip) == \
        (1e-4, (0.9, 0.95), 1e-15, 0.0, 0.2)
    assert (cfg.schedule.kind, cfg.schedule.warmup_steps, cfg.train.steps, cfg.train.batch_size) == ("constant", 1000, 100_000, 32)
    assert (cfg.flow.uniform_fraction, cfg.flow.t_min, cfg.flow.t_max, cfg.flow.shift) == (0.1, 1e-3, 1.0, 1.0)
    assert (cfg.text.caption_dropout, cfg.train.autocast, cfg.train.weights_dtype, cfg.train.compile) == (0.1, "bf16", "float32", True)
    assert (cfg.eval.every, cfg.eval.n_samples, cfg.eval.steps, cfg.eval.guidance, cfg.eval.solver) == (10_000, 10_000, 50, 3.5, "euler")


BAD = [
    (["train.stepz=3"], "unknown key train.stepz"),
    (["train.steps=ten"], "train.steps"),
    (["train.steps=1.5"], "train.steps = 1.5: expected int"),
    (["train.compile=1"], "train.compile = 1: expected bool"),
    (["optim.betas=[0.9]"], "optim.betas"),
    (["flow.prediction=z"], "flow.prediction = 'z'"),
    (["train.steps=0"], "train.steps = 0: expected >= 1"),
    (["text.caption_dropout=1.5"], "text.caption_dropout"),
    (["optim.name=sgd"], "optim.name = 'sgd'"),
    (["model.preset=huge"], "model.preset = 'huge'"),
    (["model.num_heads=3"], "model.hidden_size = 64 is not divisible by model.num_heads = 3"),
    (["model.axes_dim=[4,4]"], "model.axes_dim = [4, 4] sums to 8, expected the head dim 32"),
    (["model.patch_size=3"], "model.patch_size = 3 does not divide"),
    (["flow.t_min=0.9", "flow.t_max=0.5"], "flow:"),
    (["techniques=[{name='nope'}]"], "techniques[0].name = 'nope'"),
    (["techniques=[{name='min_snr', gamma=-1.0}]"], "techniques.min_snr.gamma = -1.0"),
    (["techniques=[{name='min_snr', gama=5.0}]"], "unknown key techniques.min_snr.gama"),
    (["techniques=[{name='min_snr'}]", "flow.loss_space=x"], "techniques.min_snr needs flow.loss_space = 'v'"),
    (["techniques.min_snr.gamma=3.0"], "no technique named 'min_snr'"),
    (["data.source=cached"], "data.path"),
    (["optim.betas=[0.9, 1.0]"], "optim.betas = [0.9, 1.0]: expected values in [0, 1)"),
    (["optim.eps=-1e-8"], "optim.eps = -1e-08"),
    (["optim.weight_decay=-0.1"], "optim.weight_decay = -0.1"),
    (["model.mlp_ratio=0.0"], "model.mlp_ratio = 0.0"),
    (["model.bottleneck_size=0"], "model.bottleneck_size = 0"),
    (["text.dim=0"], "text.dim = 0"),
    (["text.encoder=google/t5gemma-2b-2b-ul2", "text.sentence_ends=true"], "text.sentence_ends = True: expected false"),
    (["flow.t_eps=0.0"], "flow.t_eps = 0.0"),
    (["data.workers=-1"], "data.workers = -1"),
    (["train.out_dir="], "train.out_dir = ''"),
    (['eval.metrics=["fdi"]'], "eval.metrics = ['fdi']: expected names from"),
    (["data.source=cached", "data.path=cache", 'eval.metrics=["caption_accuracy"]'], "unless data.source = 'shapes'"),
]


@pytest.mark.parametrize("overrides,message", BAD, ids=[b[1][:30] for b in BAD])
def test_bad_config_is_one_line_naming_the_key(overrides, message):
    with pytest.raises(config.ConfigError) as e:
        config.load_config(TINY, overrides)
    assert message in str(e.value) and "\n" not in str(e.value)
    assert str(TINY) in str(e.value)


def test_inherit_and_file_errors(tmp_path):
    (tmp_path / "child.toml").write_text('inherit = "missing.toml"\n')
    with pytest.raises(FileNotFoundError, match="missing.toml"):
        config.load_config(tmp_path / "child.toml")
    (tmp_path / "bad.toml").write_text("[train\nsteps = 3\n")
    with pytest.raises(config.ConfigError, match="invalid TOML"):
        config.load_config(tmp_path / "bad.toml")
    (tmp_path / "loop.toml").write_text('inherit = "loop.toml"\n')
    with pytest.raises(config.ConfigError, match="inherit cycle"):
        config.load_config(tmp_path / "loop.toml")


def test_cli_bad_config_exits_2_with_one_line(capsys):
    code, err = run_cli(capsys, "--config", TINY, "model.num_heads=3")
    assert code == 2 and err.count("\n") == 1 and "model.num_heads = 3" in err
    assert run_cli(capsys, "--config", "nope.toml")[0] == 2
    assert run_cli(capsys, "--config", TINY, "--check")[0] == 0


# -- training --------------------------------------------------------------------------------------

def test_sigterm_then_resume_is_exact(tmp_path, capsys):
    "Kill a run with SIGTERM, resume it, and compare with an uninterrupted run: same losses, bit for bit."
    interrupted, straight = tmp_path / "interrupted", tmp_path / "straight"
    child = subprocess.Popen([*RUN, "--config", str(TINY), "train.steps=100000", f"train.out_dir={interrupted}"],
                             env=ENV, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and not ((interrupted / "train.jsonl").is_file() and
                                          len((interrupted / "train.jsonl").read_text().splitlines()) >= 3):
        time.sleep(0.02)
    child.send_signal(signal.SIGTERM)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 128 + signal.SIGTERM, err
    saved = checkpoints.checkpoint_dirs(interrupted / "checkpoints")
    assert len(saved) == 1
    k = int(saved[0].name.split("_")[1])
    n = k + 4
    assert run_cli(capsys, "--config", TINY, f"train.steps={n}", f"train.out_dir={interrupted}") == (0, "")
    assert run_cli(capsys, "--config", TINY, f"train.steps={n}", f"train.out_dir={straight}") == (0, "")
    a, b = read_log(interrupted), read_log(straight)
    for step in range(k + 1, n + 1):
        assert a[step]["loss"] == b[step]["loss"], step
        assert a[step]["grad_norm"] == b[step]["grad_norm"], step


def test_corrupt_and_mismatched_checkpoints_are_clear_errors(tmp_path, capsys):
    out = tmp_path / "run"
    assert run_cli(capsys, "--config", TINY, "train.steps=2", f"train.out_dir={out}")[0] == 0
    code, err = run_cli(capsys, "--config", TINY, "train.steps=3", "model.depth=3", f"train.out_dir={out}")
    assert code == 2 and "model.depth = None" in err and err.count("\n") == 1
    weights = checkpoints.checkpoint_dirs(out / "checkpoints")[-1] / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    code, err = run_cli(capsys, "--config", TINY, "train.steps=3", f"train.out_dir={out}")
    assert code == 2 and "damaged" in err and "model.safetensors" in err


def test_inference_never_opens_dcp_metadata(tmp_path, capsys):
    "A planted pickle in sharded/.metadata must not run: inference and export read safetensors only."
    import pickle
    out, marker = tmp_path / "run", tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    assert run_cli(capsys, "--config", TINY, "train.steps=1", f"train.out_dir={out}")[0] == 0
    ckpt = checkpoints.checkpoint_dirs(out / "checkpoints")[-1]
    (ckpt / "sharded").mkdir()
    (ckpt / "sharded" / ".metadata").write_bytes(pickle.dumps(Payload()))
    evaluation.load_for_inference(out)
    evaluation.export_pretrained(out, tmp_path / "export")
    assert not marker.exists()


def test_sentence_ends_train_and_load_back(tmp_path, capsys):
    "text.sentence_ends: the trained encoder has the '.' token, and inference rebuilds the same tokenizer from the config."
    out = tmp_path / "run"
    assert run_cli(capsys, "--config", TINY, "train.steps=1", "text.sentence_ends=true", f"train.out_dir={out}")[0] == 0
    cfg, _, text_encoder, _ = evaluation.load_for_inference(out)
    assert cfg.text.sentence_ends and text_encoder.vocab[3] == "."
    ids, mask = text_encoder.tokenize(["a red circle. a blue square"])
    assert text_encoder.word_index["."] in ids[0][mask[0]].tolist()


def test_incomplete_latest_checkpoint_falls_back(tmp_path, capsys):
    out = tmp_path / "run"
    assert run_cli(capsys, "--config", TINY, "train.steps=2", "train.ckpt_every=1", f"train.out_dir={out}")[0] == 0
    (out / "checkpoints" / "step_0000005").mkdir()                     # a save cut short: no state.json
    capsys.readouterr()
    assert cli.train_cli(["--config", str(TINY), "train.steps=3", f"train.out_dir={out}"]) == 0
    assert "skipping incomplete checkpoint(s) ['step_0000005']; resuming from step_0000002" in capsys.readouterr().out
    assert sorted(read_log(out)) == [1, 2, 3]


def test_nonfinite_losses_stop_the_run(tmp_path, capsys):
    code, err = run_cli(capsys, "--config", TINY, "optim.lr=1e30", "schedule.warmup_steps=0", "optim.grad_clip=0.0",
                        "train.max_nonfinite=2", "train.steps=50", f"train.out_dir={tmp_path}")
    assert code == 1 and "non-finite" in err


def test_min_snr_plugin_changes_the_loss_and_ema_export_loads(tmp_path):
    from diffusers import PRXTransformer2DModel
    common = ["train.steps=2", "train.ema_decay=0.9"]
    base = train_lib.train(config.load_config(TINY, [*common, f"train.out_dir={tmp_path / 'a'}"]))
    snr = train_lib.train(config.load_config(TINY, [*common, f"train.out_dir={tmp_path / 'b'}", "techniques=[{name='min_snr'}]"]))
    assert snr.history[0]["loss"] < base.history[0]["loss"]       # weights min((1-t)^2, 5t^2) <= 1
    exported = evaluation.export_pretrained(snr.checkpoint, tmp_path / "export")
    reloaded = PRXTransformer2DModel.from_pretrained(exported)
    _, denoiser, text_encoder, _ = evaluation.load_for_inference(snr.checkpoint)
    ema = checkpoints._load_tensors(snr.checkpoint / "ema.safetensors")
    # the EMA averages the denoiser and the word encoder trained with it; inference loads both
    for prefix, module in (("denoiser.", denoiser), ("text_encoder.", text_encoder)):
        averaged = {n.removeprefix(prefix): v for n, v in ema.items() if n.startswith(prefix)}
        assert averaged.keys() == dict(module.named_parameters()).keys()
        for name, value in averaged.items():
            torch.testing.assert_close(module.state_dict()[name], value)
    assert sum(p.numel() for p in reloaded.parameters()) == sum(p.numel() for p in denoiser.parameters())


def test_sample_cli_writes_png(tmp_path, capsys):
    out = tmp_path / "run"
    assert run_cli(capsys, "--config", TINY, "train.steps=1", f"train.out_dir={out}")[0] == 0
    png = tmp_path / "grid.png"
    assert cli.sample_cli(["--ckpt", str(out), "--prompt", "a red square", "--prompt", "a blue circle",
                         "--out", str(png), "--steps", "2"]) == 0
    assert png.read_bytes()[:4] == b"\x89PNG"
    other = tmp_path / "pipeline.png"                  # PRXPipeline's time grid: the same prompts, other images
    assert cli.sample_cli(["--ckpt", str(out), "--prompt", "a red square", "--prompt", "a blue circle",
                           "--out", str(other), "--steps", "2", "--time-grid", "pipeline"]) == 0
    assert other.read_bytes() != png.read_bytes()
    assert cli.sample_cli(["--ckpt", str(tmp_path / "none"), "--prompt", "x", "--out", str(png)]) == 2


# -- cached real data ------------------------------------------------------------------------------

def test_training_on_a_cache_of_latents_and_frozen_text(tmp_path):
    "Cached latents + T5Gemma embeddings: dropped captions take the cached empty prompt, and a mismatched cache is refused."
    from PIL import Image
    from prx_nb import cache, data, text
    from prx_nb.latents import IdentityLatents
    encoder_dir = tmp_path / "t5gemma"
    text.save_tiny_t5gemma(encoder_dir)
    encoder = text.HFTextEncoder.from_pretrained(str(encoder_dir), max_length=8)
    folder = tmp_path / "images"
    folder.mkdir()
    for i, colour in enumerate(["red", "green", "blue", "white"] * 2):
        Image.new("RGB", (20, 24), colour).save(folder / f"{i}.png")
        (folder / f"{i}.txt").write_text(f"a {colour} square")
    cache.build_cache(data.ImageFolderSource(folder), tmp_path / "cache", IdentityLatents(), encoder, resolution=16,
                     shard_size=4)
    overrides = ["data.source=cached", f"data.path={tmp_path / 'cache'}", f"text.encoder={encoder_dir}",
                 "text.max_length=8", "text.caption_dropout=0.5", f"train.out_dir={tmp_path / 'run'}", "train.steps=3"]
    cfg = config.load_config(TINY, overrides)

    stream = objective.build_data(cfg, runtime.init_runtime(cfg.train, cfg.dist))
    empty, rt = stream.empty_prompt(), runtime.init_runtime(cfg.train, cfg.dist)
    for step in range(8):  # a step where some captions are dropped and some kept
        source = stream.batch(step)
        batch = objective.make_batch(step, source, IdentityLatents(), encoder, config.time_sampler(cfg.flow), cfg, rt, empty)
        dropped = torch.tensor([c == "" for c in batch.captions])
        if 0 < dropped.sum() < len(dropped):
            break
    assert 0 < dropped.sum() < len(dropped)
    assert torch.equal(batch.x, source["latents"])
    assert torch.equal(batch.text_tokens[dropped], empty["tokens"].expand(int(dropped.sum()), -1, -1))
    assert torch.equal(batch.text_tokens[~dropped], source["tokens"][~dropped])

    result = train_lib.train(cfg)
    assert result.step == 3 and all(torch.isfinite(torch.tensor(r["loss"])) for r in result.history)
    narrow = text.WordTextEncoder(text.build_vocab(["a", "square"]), dim=8, layers=1, heads=2, max_length=8)
    cache.build_cache(data.ImageFolderSource(folder), tmp_path / "narrow", IdentityLatents(), narrow.requires_grad_(False),
                     resolution=16, shard_size=4)
    with pytest.raises(config.ConfigError, match="width 8"):
        train_lib.train(config.load_config(TINY, [*overrides, f"data.path={tmp_path / 'narrow'}"]))


def test_fresh_run_refuses_old_checkpoints_and_resume_drops_later_records(tmp_path, capsys):
    out = tmp_path / "run"
    assert run_cli(capsys, "--config", TINY, "train.steps=2", "train.ckpt_every=1", f"train.out_dir={out}")[0] == 0
    code, err = run_cli(capsys, "--config", TINY, "train.resume=false", f"train.out_dir={out}")
    assert code == 2 and "train.resume = false" in err and err.count("\n") == 1
    with open(out / "train.jsonl", "a") as f:   # records past the last checkpoint, and a line cut short by a kill
        f.write(json.dumps({"step": 7, "loss": 1.0}) + "\n" + '{"step": 8, "lo')
    assert run_cli(capsys, "--config", TINY, "train.steps=3", f"train.out_dir={out}")[0] == 0
    assert sorted(read_log(out)) == [1, 2, 3]


def test_tensorboard_tracker_gets_every_logged_record(tmp_path, monkeypatch):
    import types
    tags = []
    writer = types.SimpleNamespace(add_scalar=lambda tag, value, step: tags.append((tag, step)),
                                   add_image=lambda tag, image, step: tags.append((tag, step)), close=lambda: None)
    module = types.ModuleType("torch.utils.tensorboard")
    module.SummaryWriter = lambda log_dir, purge_step: writer
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", module)
    monkeypatch.setattr(config, "package_installed", lambda name: True)   # the config check looks for the real package
    result = train_lib.train(config.load_config(TINY, ["train.steps=4", "train.log_every=2", "eval.every=4", "train.trackers=['tensorboard']",
                                          f"train.out_dir={tmp_path}"]))
    assert [s for tag, s in tags if tag == "train/loss"] == [r["step"] for r in result.history] == [2, 4]
    assert ("eval/samples", 4) in tags
