"Checks of prx_nb.metrics that the notebook does not make: larger sets, bad input, GPU paths, the trainer's call."
import math
import tempfile

import numpy as np
import pytest
import torch
from torch import nn

from prx_nb import metrics
from prx_nb.metrics import (ClipFeatures, DinoFeatures, FeatureExtractor, batch_seed, evaluate, extract_features,
                            frechet_distance, gaussian_mmd, measure_throughput, mmd, mmd_estimates, mfu,
                            rbf_kernel_sum)

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")


class MeanColour(FeatureExtractor):
    "Per-channel mean and std: a feature space where colour and contrast shifts are visible."
    num_features = 6

    def __init__(self):
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(()), requires_grad=False)  # gives the extractor a device

    def features(self, images):
        return torch.cat([images.mean((2, 3)), images.std((2, 3))], 1) + self.anchor


def sampler(captions, seed):
    "Seeded noise images whose brightness depends on the caption."
    gen = torch.Generator().manual_seed(seed)
    level = torch.tensor([len(c) % 5 / 5 for c in captions]).view(-1, 1, 1, 1)
    return (level + 0.2 * torch.randn(len(captions), 3, 8, 8, generator=gen)).clamp(-1, 1)


def test_chunked_mmd_matches_one_block_on_a_large_set():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(3000, 32, generator=g), torch.randn(2500, 32, generator=g) * 1.1
    whole = mmd(x.double(), y.double(), chunk_size=4000)
    assert mmd(x.double(), y.double(), chunk_size=97) == pytest.approx(whole, rel=1e-10)
    assert mmd(x, y, chunk_size=256) == pytest.approx(whole, rel=1e-4)
    # the diagonal of k(x, x) is exactly the n ones the unbiased estimator leaves out
    full, off = rbf_kernel_sum(x, x, chunk_size=256), rbf_kernel_sum(x, x, chunk_size=256, skip_diagonal=True)
    assert (full - off).item() == pytest.approx(len(x), rel=1e-6)


def test_official_estimator_is_the_all_pairs_mean():
    # the CMMD code's estimator averages over all pairs: zero for a set against itself, where the U-statistic
    # (diagonal left out) is 2 (mean off-diagonal kernel - 1) / m
    g = torch.Generator().manual_seed(3)
    x, y = torch.randn(200, 8, generator=g), torch.randn(150, 8, generator=g) + 0.2
    k = lambda a, b: torch.exp(-torch.cdist(a.double(), b.double()).square() / 8.0).mean().item()
    off_diagonal = (k(x, x) * 200**2 - 200) / (200 * 199)
    assert mmd(x, x, sigma=2.0, unbiased=False) == pytest.approx(0.0, abs=1e-9)
    assert mmd(x, x, sigma=2.0) == pytest.approx(1000 * 2 * (off_diagonal - 1) / 200, rel=1e-6)
    both = mmd_estimates(x, y, sigma=2.0)
    assert both["biased"] == pytest.approx(1000 * (k(x, x) + k(y, y) - 2 * k(x, y)), rel=1e-9)
    assert both["unbiased"] == mmd(x, y, sigma=2.0)


def test_mmd_closed_form_with_cmmd_settings_on_unit_scale_features():
    # sigma = 10 on features of norm ~1, the regime CMMD works in: the value is small but resolved
    g = torch.Generator().manual_seed(1)
    dim, std = 64, 1 / 8
    mean_y = torch.full((dim,), 0.05)
    exact = gaussian_mmd(torch.zeros(dim), std, mean_y, std)
    est = mmd(std * torch.randn(4000, dim, generator=g), std * torch.randn(4000, dim, generator=g) + mean_y)
    assert exact > 0 and est == pytest.approx(exact, rel=0.1)


def test_frechet_distance_is_zero_for_identical_sets_and_symmetric():
    g = torch.Generator().manual_seed(2)
    x, y = torch.randn(500, 16, generator=g), torch.randn(400, 16, generator=g) + 0.5
    assert abs(frechet_distance(x, x)) < 1e-8
    assert frechet_distance(x, y) == pytest.approx(frechet_distance(y, x), rel=1e-8)


@pytest.mark.parametrize("call, message", [
    (lambda: mmd(torch.zeros(5, 3), torch.zeros(5, 4)), "same D"),
    (lambda: mmd(torch.zeros(5), torch.zeros(5)), "(N, D)"),
    (lambda: mmd(torch.zeros(5, 3), torch.zeros(5, 3), chunk_size=0), "chunk_size=0"),
    (lambda: rbf_kernel_sum(torch.zeros(5, 3), torch.zeros(4, 3), skip_diagonal=True), "y = x"),
    (lambda: frechet_distance(torch.zeros(1, 3), torch.zeros(4, 3)), "N >= 2"),
    (lambda: mfu(1.0, 1.0, "Z80"), "Z80"),
    (lambda: measure_throughput(lambda: None, batch_size=0), "batch_size"),
    (lambda: metrics.default_extractor("vgg"), "'vgg'"),
    (lambda: evaluate(sampler, [], 4, 0, metrics=["cmmd"]), "at least one caption"),
    (lambda: evaluate(sampler, ["a"], 0, 0, metrics=["cmmd"]), "n=0"),
    (lambda: evaluate(sampler, ["a"], 4, 0, metrics=[]), "non-empty"),
])
def test_bad_input_is_a_one_line_error(call, message):
    with pytest.raises(ValueError) as info:
        call()
    assert message in str(info.value) and "\n" not in str(info.value)


def test_missing_model_folder_is_a_file_not_found_error():
    with tempfile.TemporaryDirectory() as tmp:
        for cls in (ClipFeatures, DinoFeatures):
            with pytest.raises(FileNotFoundError, match="not a model folder"):
                cls.from_pretrained(f"{tmp}/missing")


def test_evaluate_as_the_trainer_calls_it():
    # prx_nb.train passes (sampler(captions, seed: int), captions, n=, seed=, metrics=, batch_size=)
    captions = ["a red circle", "a blue square on white", "three shapes"]
    real = sampler(captions * 10, 123)
    ref = {"clip": extract_features(MeanColour(), real)}
    kwargs = dict(n=17, seed=5, metrics=["cmmd", "dino_mmd"], batch_size=6, reference={**ref, "dino": ref["clip"]},
                  extractors={"clip": MeanColour(), "dino": MeanColour()})
    first, again = evaluate(sampler, captions, **kwargs), evaluate(sampler, captions, **kwargs)
    assert first["n_samples"] == 17 and first["cmmd"] == again["cmmd"] == first["dino_mmd"]
    assert set(first) == {"cmmd", "cmmd_unbiased", "dino_mmd", "dino_mmd_unbiased", "n_samples", "seconds"}
    assert first["cmmd"] > first["cmmd_unbiased"]                  # the official all-pairs estimate carries the offset
    assert all(isinstance(v, (int, float)) and math.isfinite(v) for v in first.values())


def test_evaluate_sees_a_shifted_model():
    captions = ["a red circle", "a blue square on white", "three shapes"]
    real = torch.cat([sampler(captions, s) for s in range(40)])
    kwargs = dict(n=120, seed=0, metrics=["cmmd"], batch_size=30, reference=real, extractors={"clip": MeanColour()})
    same = evaluate(sampler, captions, **kwargs)["cmmd_unbiased"]
    shifted = evaluate(lambda c, s: (sampler(c, s) + 0.3).clamp(-1, 1), captions, **kwargs)["cmmd_unbiased"]
    assert shifted > 10 * abs(same)


def test_batch_seeds_are_distinct_and_stable():
    seeds = [batch_seed(s, i) for s in range(4) for i in range(50)]
    assert len(set(seeds)) == len(seeds)
    assert batch_seed(0, 0) == int(np.random.SeedSequence([0, 0]).generate_state(1)[0])


@cuda
def test_throughput_on_gpu_synchronises_and_reports_cuda_memory():
    device = torch.device("cuda")
    a = torch.randn(4096, 4096, device=device)
    speed = measure_throughput(lambda: a @ a, batch_size=1, warmup=2, iters=5, device=device)
    assert speed.memory_kind == "cuda_max_allocated" and speed.peak_memory_bytes >= a.numel() * 4 * 2
    # 2 n^3 FLOPs per matmul: an unsynchronised timer would report impossible rates (beyond 2 PFLOP/s)
    assert 2 * 4096**3 / speed.seconds_per_step < 2e15


@cuda
def test_metrics_on_gpu_match_cpu():
    g = torch.Generator().manual_seed(3)
    x, y = torch.randn(700, 24, generator=g), torch.randn(600, 24, generator=g) + 0.2
    assert mmd(x.cuda(), y.cuda(), chunk_size=128) == pytest.approx(mmd(x, y), rel=1e-4)
    assert frechet_distance(x.cuda(), y.cuda()) == pytest.approx(frechet_distance(x, y), rel=1e-6)
