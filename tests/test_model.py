"""PRXDenoiser beyond the notebook: the diffusers PRXPipeline round trip, save/load, bad input, the benchmark CLI."""
import importlib.util
import json
from pathlib import Path

import pytest
import torch
from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, PRXPipeline, PRXTransformer2DModel
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast, T5GemmaConfig, T5GemmaEncoderModel

from prx_nb.metrics import benchmark_training_step
from prx_nb.model import PRXDenoiser, RoutingPlan, make_denoiser, perturb_parameters_

ROOT = Path(__file__).resolve().parents[1]
TEXT_DIM = 32  # the tiny preset's context_in_dim, also the tiny T5Gemma's width


def tiny_batch(b: int = 2, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    mask = torch.arange(6)[None] < torch.randint(1, 7, (b, 1), generator=g)
    return (torch.randn(b, 4, 16, 16, generator=g), torch.rand(b, generator=g),
            torch.randn(b, 6, TEXT_DIM, generator=g), mask)


@pytest.fixture(scope="module")
def denoiser() -> PRXDenoiser:
    return perturb_parameters_(make_denoiser("tiny"), std=0.05, seed=1)


def save_tiny_components(folder: Path) -> None:
    "Tiny random T5Gemma encoder, word-level tokenizer and AutoencoderKL, saved as a PRXPipeline folder expects."
    layer = dict(vocab_size=16, hidden_size=TEXT_DIM, intermediate_size=32, num_hidden_layers=1,
                 num_attention_heads=2, num_key_value_heads=1, head_dim=16, max_position_embeddings=32,
                 layer_types=["full_attention"])
    with torch.random.fork_rng():
        torch.manual_seed(0)
        # transformers 5: the encoder-only model needs the composite config with is_encoder_decoder=False
        config = T5GemmaConfig(encoder=layer, decoder=layer, is_encoder_decoder=False, vocab_size=16)
        T5GemmaEncoderModel(config).save_pretrained(folder / "text_encoder")
        AutoencoderKL(block_out_channels=[8, 16], down_block_types=["DownEncoderBlock2D"] * 2,
                      up_block_types=["UpDecoderBlock2D"] * 2, latent_channels=4, norm_num_groups=4,
                      shift_factor=0.0).save_pretrained(folder / "vae")
    words = ["<pad>", "<unk>", "<eos>", "a", "red", "blue", "circle", "square"]
    word_level = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    word_level.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=word_level, pad_token="<pad>", unk_token="<unk>", eos_token="<eos>",
                            model_max_length=8).save_pretrained(folder / "tokenizer")


def generate(pipe: PRXPipeline) -> torch.Tensor:
    pipe.set_progress_bar_config(disable=True)
    # one prompt: diffusers 0.42.1's PRXPipeline passes 2 timesteps for a CFG batch of 2 x len(prompts)
    return pipe("a red circle", height=64, width=64, num_inference_steps=3, guidance_scale=3.0,
                use_resolution_binning=False, output_type="pt", generator=torch.Generator().manual_seed(0)).images


def test_saved_denoiser_runs_in_prx_pipeline(denoiser, tmp_path):
    save_tiny_components(tmp_path)
    denoiser.save_pretrained(tmp_path / "transformer")
    transformer = PRXTransformer2DModel.from_pretrained(tmp_path / "transformer", low_cpu_mem_usage=False)
    x_t, t, text, mask = tiny_batch()
    with torch.no_grad():
        torch.testing.assert_close(transformer(x_t, t, text, mask).sample, denoiser(x_t, t, text, mask).sample,
                                   rtol=0, atol=0)
    pipe = PRXPipeline(transformer=transformer, scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0),
                       text_encoder=T5GemmaEncoderModel.from_pretrained(tmp_path / "text_encoder"),
                       tokenizer=PreTrainedTokenizerFast.from_pretrained(tmp_path / "tokenizer"),
                       vae=AutoencoderKL.from_pretrained(tmp_path / "vae", low_cpu_mem_usage=False))
    images = generate(pipe)
    assert images.shape == (1, 3, 64, 64) and images.isfinite().all()
    assert 0 <= images.min() and images.max() <= 1
    # the whole pipeline saves and loads back from a folder, and our loader reads its transformer subfolder
    pipe.save_pretrained(tmp_path / "pipeline")
    assert json.loads((tmp_path / "pipeline/model_index.json").read_text())["transformer"][1] == "PRXTransformer2DModel"
    torch.testing.assert_close(generate(PRXPipeline.from_pretrained(tmp_path / "pipeline")), images)
    reloaded = PRXDenoiser.from_pretrained(tmp_path / "pipeline", subfolder="transformer")
    with torch.no_grad():
        torch.testing.assert_close(reloaded(x_t, t, text, mask).sample, denoiser(x_t, t, text, mask).sample)


def test_sprint_checkpoint_round_trip(denoiser, tmp_path):
    sprint = PRXDenoiser(denoiser.transformer, sprint_span=(1, 3))
    perturb_parameters_(sprint.fusion, seed=2)
    sprint.save_pretrained(tmp_path)
    back = PRXDenoiser.from_pretrained(tmp_path)
    assert back.sprint_span == (1, 3)
    plan = RoutingPlan(1, 3, keep=0.5, mode="sprint", group=2)
    x_t, t, text, mask = tiny_batch()
    with torch.no_grad():
        ours = sprint(x_t, t, text, mask, routing=plan, generator=torch.Generator().manual_seed(0)).sample
        theirs = back(x_t, t, text, mask, routing=plan, generator=torch.Generator().manual_seed(0)).sample
    torch.testing.assert_close(ours, theirs, rtol=0, atol=0)
    with pytest.raises(ValueError, match="SPRINT fusion"):
        sprint.to_diffusers()


def test_bad_inputs_name_the_value(denoiser, tmp_path):
    x_t, t, text, mask = tiny_batch()
    with pytest.raises(FileNotFoundError, match="config.json"):
        PRXDenoiser.from_pretrained(tmp_path / "nothing-here")
    with pytest.raises(ValueError, match="text_mask shape"):
        denoiser(x_t, t, text, mask[:, :3])
    with pytest.raises(ValueError, match=r"t shape \(3,\)"):
        denoiser(x_t, torch.rand(3), text, mask)
    with pytest.raises(ValueError, match="kept_indices"):
        denoiser(x_t, t, text, mask, routing=RoutingPlan(1, 3, kept_indices=torch.tensor([[0, 64]] * 2)))
    with pytest.raises(ValueError, match=r"span \(1, 9\).*depth=4"):
        make_denoiser("tiny", sprint_span=(1, 9))


def test_routing_is_seeded_and_gradient_checkpointing_matches(denoiser):
    x_t, t, text, mask = tiny_batch()
    plan = RoutingPlan(1, 3, keep=0.5)

    def loss_and_grads(seed):
        denoiser.zero_grad(set_to_none=True)
        out = denoiser(x_t, t, text, mask, taps=(2,), routing=plan, generator=torch.Generator().manual_seed(seed))
        loss = out.sample.square().mean() + out.taps[2].square().mean()
        loss.backward()
        return loss.detach(), [p.grad.clone() for p in denoiser.parameters()]

    first, grads = loss_and_grads(0)
    assert torch.equal(first, loss_and_grads(0)[0]) and not torch.equal(first, loss_and_grads(1)[0])
    denoiser.transformer.enable_gradient_checkpointing()
    try:
        again, checkpointed = loss_and_grads(0)
    finally:
        denoiser.transformer.disable_gradient_checkpointing()
    torch.testing.assert_close(again, first)
    for a, b in zip(grads, checkpointed):
        torch.testing.assert_close(a, b)
    denoiser.zero_grad(set_to_none=True)


def test_bf16_autocast_stays_close_to_fp32(denoiser):
    x_t, t, text, mask = tiny_batch()
    with torch.no_grad():
        full = denoiser(x_t, t, text, mask).sample
        with torch.autocast("cpu", dtype=torch.bfloat16):
            half = denoiser(x_t, t, text, mask, routing=RoutingPlan(0, 4, keep=1.0)).sample
    assert half.dtype == torch.bfloat16
    assert (half.float() - full).abs().max() < 0.05 * full.abs().max()


def test_benchmark_on_cpu():
    result = benchmark_training_step(make_denoiser("tiny"), batch_size=4, height=16, width=16, text_tokens=6,
                                     steps=1, warmup=1, routing=RoutingPlan(1, 3, keep=0.5))
    assert result["step_s"] > 0 and result["samples_per_s"] > 0 and result["mfu"] is None
    assert result["params"] == 330_000


def test_bench_script_exit_codes(capsys):
    spec = importlib.util.spec_from_file_location("bench_model", ROOT / "scripts/bench_model.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--preset", "tiny", "--batch", "2", "--steps", "1", "--warmup", "0"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["preset"] == "tiny"
    for bad, message in ((["--preset", "tiny", "--size", "15"], "patch_size=2"), (["--preset", "huge"], "huge"),
                         (["--batch", "0"], "--batch 0")):
        with pytest.raises(SystemExit) as exit_info:
            bench.main(bad)
        assert exit_info.value.code == 2 and message in capsys.readouterr().err
