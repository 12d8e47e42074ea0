"Bad input, cache resume and sharded loading of prx_nb.data and prx_nb.cache (what the notebooks check only in small)."
import io
import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from prx_nb import data
from prx_nb.cache import CachedBatches, CachedStream, LatentCache, build_cache
from prx_nb.latents import IdentityLatents, KLLatents, tiny_autoencoder
from prx_nb.text import WordTextEncoder, build_vocab

WORDS = ["a", "red", "green", "blue", "square", "circle", "photo", "of", "small", "large", "image"]


def word_encoder(max_length: int = 12) -> WordTextEncoder:
    return WordTextEncoder(build_vocab(WORDS), dim=8, layers=1, heads=2, max_length=max_length, seed=0).requires_grad_(False)


class FailingEncoder(torch.nn.Module):
    "A text encoder that raises on its `fail_at`-th call (a run killed mid-shard) and counts calls."

    def __init__(self, encoder, fail_at=None):
        super().__init__()
        self.encoder, self.fail_at, self.calls = encoder, fail_at, 0
        self.dim, self.max_length = encoder.dim, encoder.max_length

    def encode(self, captions):
        self.calls += 1
        if self.calls == self.fail_at:
            raise RuntimeError("simulated kill")
        return self.encoder.encode(captions)


def caption(path: Path, **captions) -> None:
    path.with_suffix(".json").write_text(json.dumps(captions))


def write_bad_folder(root: Path) -> None:
    "Every kind of trouble, each once, with long + short json captions unless stated."
    root.mkdir(parents=True)
    both = dict(long="a large red square photo", short="red square")
    Image.new("RGB", (64, 48), (200, 0, 0)).save(root / "valid.jpg", quality=95); caption(root / "valid.jpg", **both)
    Image.new("RGB", (48, 64), (0, 200, 0)).save(root / "valid.png"); caption(root / "valid.png", **both)
    Image.new("CMYK", (64, 64), (0, 255, 255, 0)).save(root / "cmyk.jpg"); caption(root / "cmyk.jpg", **both)
    Image.new("L", (64, 64), 90).save(root / "gray.png"); caption(root / "gray.png", **both)
    Image.new("RGBA", (64, 64), (0, 0, 255, 0)).save(root / "rgba.png"); caption(root / "rgba.png", **both)
    Image.new("RGB", (4, 4)).save(root / "tiny.png"); caption(root / "tiny.png", **both)
    Image.new("RGB", (64, 64)).save(root / "no_caption.png")
    Image.new("RGB", (64, 64)).save(root / "empty_caption.png"); caption(root / "empty_caption.png", long=" ", short="x")
    Image.new("RGB", (64, 64)).save(root / "no_short.png"); caption(root / "no_short.png", long="a photo")
    buf = io.BytesIO()
    Image.effect_noise((64, 64), 60).convert("RGB").save(buf, format="JPEG")
    (root / "truncated.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2]); caption(root / "truncated.jpg", **both)
    (root / "text.jpg").write_text("this is not a jpeg"); caption(root / "text.jpg", **both)
    (root / "broken_caption.png").write_bytes((root / "valid.png").read_bytes())
    (root / "broken_caption.json").write_text("{not json")


EXPECTED = {"seen": 12, "kept": 5,
            "skipped": {"bad_caption_file": 1, "empty_caption": 1, "missing_caption": 2, "too_small": 1, "truncated": 1,
                        "unreadable": 1},
            "converted": {"CMYK": 1, "L": 1, "RGBA": 1}}


def counts(report: dict) -> dict:
    "A report without its per-item list of skips."
    return {k: v for k, v in report.items() if k != "skipped_items"}


def test_bad_input_counts(tmp_path):
    write_bad_folder(tmp_path / "images")
    source = data.ImageFolderSource(tmp_path / "images", caption_keys=("long", "short"))
    manifest = build_cache(source, tmp_path / "cache", IdentityLatents(), word_encoder(), resolution=32,
                                shard_size=5, batch_size=4)
    assert counts(manifest["report"]) == EXPECTED
    skipped = manifest["report"]["skipped_items"]          # which file, and why
    assert len(skipped) == 7 and {reason for _, reason, _ in skipped} == set(EXPECTED["skipped"])
    assert any(r == "bad_caption_file" and "broken_caption.png" in d for _, r, d in skipped)
    cache = LatentCache(tmp_path / "cache")
    keys = [item["key"] for item in cache.iter_items()]
    assert sorted(keys) == ["cmyk.jpg", "gray.png", "rgba.png", "valid.jpg", "valid.png"]
    rgba = cache.get(keys.index("rgba.png"))["latents"]
    assert torch.equal(rgba, torch.ones(3, 32, 32))            # transparent -> white, not black
    gray = cache.get(keys.index("gray.png"))["latents"]
    assert torch.allclose(gray, torch.full_like(gray, 90 / 127.5 - 1))


def test_missing_paths_are_one_line_errors(tmp_path):
    missing = tmp_path / "nowhere"
    for make in (lambda: data.ImageFolderSource(missing), lambda: data.HFDatasetSource(str(missing)),
                 lambda: LatentCache(missing), lambda: CachedStream(missing, batch_size=2)):
        with pytest.raises(FileNotFoundError) as info:
            make()
        assert str(missing) in str(info.value) and "\n" not in str(info.value)


def write_images(root: Path, n: int, sizes=((40, 40),)) -> None:
    root.mkdir(parents=True)
    colours = ["red", "green", "blue"]
    for i in range(n):
        w, h = sizes[i % len(sizes)]
        Image.new("RGB", (w, h), colours[i % 3]).save(root / f"{i:03d}.png")
        caption(root / f"{i:03d}.png", long=f"a large {colours[i % 3]} square photo {'a ' * (i % 4)}",
                short=f"{colours[i % 3]} square")


def shard_bytes(folder: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("shard-*.safetensors"))}


def test_resume_after_kill_equals_uninterrupted_run(tmp_path):
    write_images(tmp_path / "images", 23)
    source = data.ImageFolderSource(tmp_path / "images", caption_keys=("long", "short"))
    encoder = word_encoder()

    def build(out, text):
        return build_cache(source, out, IdentityLatents(), text, resolution=32, shard_size=5, batch_size=8)

    full = build(tmp_path / "full", FailingEncoder(encoder))
    assert len(full["shards"]) == 5 and full["report"]["kept"] == 23

    rerun = FailingEncoder(encoder)
    assert build(tmp_path / "full", rerun) == full and rerun.calls == 0           # finished shards are skipped

    killed = FailingEncoder(encoder, fail_at=6)              # 1 call for "", then 2 per shard: dies in shard 2
    with pytest.raises(RuntimeError, match="simulated kill"):
        build(tmp_path / "resumed", killed)
    assert sorted(p.name for p in (tmp_path / "resumed").glob("shard-*.json")) == ["shard-00000.json", "shard-00001.json"]
    with pytest.raises(ValueError, match="incomplete: 2 of 5 shards"):
        LatentCache(tmp_path / "resumed")                                     # readers refuse a partial cache
    resumed = FailingEncoder(encoder)
    assert build(tmp_path / "resumed", resumed) == full
    assert resumed.calls == 2 * 3                                                  # shards 2, 3, 4 x (long, short)
    assert shard_bytes(tmp_path / "resumed") == shard_bytes(tmp_path / "full")

    cache = LatentCache(tmp_path / "full")                                    # both caption lengths stored
    item = [it["key"] for it in cache.iter_items()].index("007.png")
    for key in ("long", "short"):
        got = cache.get(item, key)
        ref = encoder.encode([got["caption"]])
        assert torch.allclose(got["tokens"], ref.tokens[0] * ref.mask[0, :, None], atol=1e-5)
        assert torch.equal(got["mask"], ref.mask[0])
    assert cache.get(item, "short")["caption"] == "green square"                # 7 % 3 -> green
    empty = encoder.encode([""])
    assert torch.allclose(cache.empty_prompt()["tokens"], empty.tokens[0], atol=1e-6)

    few = LatentCache(tmp_path / "full")
    few.open_shards = 2                                                             # bounded open files
    assert all(torch.equal(few.get(i)["latents"], cache.get(i)["latents"]) for i in reversed(range(len(cache))))
    assert len(few._handles) == 2
    with pytest.raises(IndexError, match="item 23"):
        cache.get(23)

    with pytest.raises(ValueError, match="shard_size"):
        build_cache(source, tmp_path / "full", IdentityLatents(), encoder, resolution=32, shard_size=7)


def test_two_processes_fill_one_cache(tmp_path):
    write_images(tmp_path / "images", 23)
    source = data.ImageFolderSource(tmp_path / "images", caption_keys=("long", "short"))

    def build(out, rank=0, world=1):
        return build_cache(source, out, IdentityLatents(), word_encoder(), resolution=32, shard_size=5,
                                rank=rank, world=world)

    full = build(tmp_path / "one")
    first = build(tmp_path / "two", rank=1, world=2)                               # shards 1, 3
    assert not first["complete"] and sorted(first["shards"]) == ["1", "3"]
    assert build(tmp_path / "two", rank=0, world=2) == full                       # shards 0, 2, 4, then the merge
    assert shard_bytes(tmp_path / "two") == shard_bytes(tmp_path / "one")
    with pytest.raises(ValueError, match="rank=2"):
        build(tmp_path / "two", rank=2, world=2)


def test_autoencoder_latents_match_direct_encoding(tmp_path):
    write_images(tmp_path / "images", 6)
    source = data.ImageFolderSource(tmp_path / "images")
    latents = KLLatents(tiny_autoencoder("flux"))
    build_cache(source, tmp_path / "cache", latents, None, resolution=32, shard_size=4, batch_size=3)
    cache = LatentCache(tmp_path / "cache")
    assert not cache.has_text and cache.latent_shape(0) == (4, 16, 16)
    with pytest.raises(ValueError, match="no text embeddings"):
        cache.empty_prompt()
    images, _ = data.prepare_items(source, range(6), resolution=32)
    direct = latents.encode(torch.stack([it.image for it in images]))
    assert torch.allclose(torch.stack([cache.get(i)["latents"] for i in range(6)]), direct, atol=1e-5)
    build_cache(source, tmp_path / "bf16", latents, None, resolution=32, shard_size=4, store_dtype=torch.bfloat16)
    half = LatentCache(tmp_path / "bf16")
    got = torch.stack([half.get(i)["latents"] for i in range(6)])
    assert got.dtype == torch.float32 and torch.allclose(got, direct, rtol=2**-8, atol=1e-6)   # bf16: 8 significant bits


def test_trainable_text_encoder_is_refused(tmp_path):
    write_images(tmp_path / "images", 2)
    source = data.ImageFolderSource(tmp_path / "images")
    trainable = WordTextEncoder(build_vocab(WORDS), dim=8, layers=1, heads=2, max_length=8)
    with pytest.raises(ValueError, match="trainable"):
        build_cache(source, tmp_path / "cache", IdentityLatents(), trainable, resolution=32)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("loader")
    write_images(root / "images", 30)
    source = data.ImageFolderSource(root / "images", caption_keys=("long", "short"))
    build_cache(source, root / "cache", IdentityLatents(), word_encoder(), resolution=16, shard_size=7)
    return root / "cache"


@pytest.mark.parametrize("world", [2, 3])
def test_ranks_see_disjoint_items_covering_the_epoch(cache_dir, world):
    streams = [CachedStream(cache_dir, batch_size=5, rank=r, world=world, seed=1) for r in range(world)]
    steps = streams[0].batches_per_epoch
    assert steps == 30 // (5 * world)
    seen = [[i for s in range(steps) for i in streams[r].batch(s)["indices"].tolist()] for r in range(world)]
    flat = [i for rank in seen for i in rank]
    assert len(flat) == len(set(flat)) == steps * 5 * world                       # disjoint, equal shares
    if 30 % (5 * world) == 0:
        assert sorted(flat) == list(range(30))                                   # covering
    again = CachedStream(cache_dir, batch_size=5, rank=0, world=world, seed=1)
    assert [again.batch(s)["indices"].tolist() for s in range(steps)] == \
        [seen[0][k:k + 5] for k in range(0, len(seen[0]), 5)]                    # same seed, same order
    other = CachedStream(cache_dir, batch_size=5, rank=0, world=world, seed=2)
    assert [other.batch(s)["indices"].tolist() for s in range(steps)] != \
        [seen[0][k:k + 5] for k in range(0, len(seen[0]), 5)]


def test_resume_mid_epoch_yields_exactly_the_remaining_items(cache_dir):
    reference = CachedStream(cache_dir, batch_size=3, seed=5)
    epoch = [reference.batch(s)["indices"].tolist() for s in range(reference.batches_per_epoch)]
    assert sorted(i for b in epoch for i in b) == list(range(30))

    stream = CachedStream(cache_dir, batch_size=3, seed=5, workers=2)
    first = [stream.batch(s)["indices"].tolist() for s in range(4)]
    assert first == epoch[:4]                                                     # workers keep the order
    state = stream.state_dict()
    assert state == {"samples_seen": 12, "epoch": 0, "batch_in_epoch": 4}

    resumed = CachedStream(cache_dir, batch_size=3, seed=5, workers=2)
    resumed.load_state_dict(json.loads(json.dumps(state)))                       # as stored in a checkpoint
    rest = [resumed.batch(s)["indices"].tolist() for s in range(4, resumed.batches_per_epoch)]
    assert rest == epoch[4:]
    assert sorted(i for b in first + rest for i in b) == list(range(30))

    finite = CachedBatches(LatentCache(cache_dir), batch_size=3, seed=5, stop=9)
    loader = torch.utils.data.DataLoader(finite, batch_size=None, num_workers=2)
    assert [b["indices"].tolist() for b in loader] == epoch[:9]                  # workers end unevenly (5 + 4)

    with pytest.raises(ValueError, match="samples_seen=13"):
        resumed.load_state_dict({"samples_seen": 13})


def test_aspect_buckets_batch_one_shape(tmp_path):
    write_images(tmp_path / "images", 24, sizes=((80, 40), (40, 80), (50, 50)))
    source = data.ImageFolderSource(tmp_path / "images")
    buckets = data.aspect_buckets(32, multiple=8)
    build_cache(source, tmp_path / "cache", IdentityLatents(), None, resolution=32, shard_size=10, buckets=buckets)
    stream = CachedStream(tmp_path / "cache", batch_size=4, seed=0)
    shapes = set()
    for s in range(stream.batches_per_epoch):
        batch = stream.batch(s)["latents"]
        assert isinstance(batch, torch.Tensor)                                   # stacked: one shape per batch
        shapes.add(tuple(batch.shape[-2:]))
    assert shapes == {(24, 40), (40, 24), (32, 32)}


def write_hf_dataset(datasets, path: Path) -> None:
    "A 3-row dataset saved with save_to_disk: two good rows and one with a broken image."
    good = io.BytesIO()
    Image.new("RGB", (40, 40), "red").save(good, format="PNG")
    rows = {"jpg": [{"bytes": good.getvalue(), "path": None}, {"bytes": b"garbage", "path": None},
                    {"bytes": good.getvalue(), "path": None}],
            "json": [{"long": "a large red square photo", "short": "red square"}] * 3}
    features = datasets.Features({"jpg": datasets.Image(), "json": {"long": datasets.Value("string"),
                                                                      "short": datasets.Value("string")}})
    table = datasets.table.InMemoryTable.from_pydict(features.encode_batch(rows), schema=features.arrow_schema)
    # explicit fingerprint: with some datasets/pyarrow/dill versions hashing an in-memory table fails
    datasets.Dataset(table, info=datasets.DatasetInfo(features=features), fingerprint="test").save_to_disk(str(path))


def test_hf_dataset_source(tmp_path):
    datasets = pytest.importorskip("datasets", reason="`datasets` is an optional dependency of HFDatasetSource")
    datasets.disable_progress_bars()
    write_hf_dataset(datasets, tmp_path / "hf")
    source = data.HFDatasetSource(tmp_path / "hf", image_column="jpg",
                                  caption_columns={"long": "json.long", "short": "json.short"})
    assert len(source) == 3 and source.caption_keys == ("long", "short")
    manifest = build_cache(source, tmp_path / "cache", IdentityLatents(), word_encoder(), resolution=32)
    assert counts(manifest["report"]) == {"seen": 3, "kept": 2, "skipped": {"unreadable": 1}, "converted": {}}
    batch = CachedStream(tmp_path / "cache", batch_size=2, caption_key="short").batch(0)
    assert batch["captions"] == ["red square"] * 2 and batch["tokens"].shape == (2, 12, 8)
    with pytest.raises(ValueError, match="'caption'"):
        data.HFDatasetSource(tmp_path / "hf", image_column="jpg")


class PatchTeacher(torch.nn.Module):
    "A stand-in teacher: mean pixel colour of each cell of the requested grid, times a fixed matrix (frozen)."

    def __init__(self, dim: int = 5, name: str = "patch-means"):
        super().__init__()
        self.dim, self.name, self.version = dim, name, "1"
        self.weight = torch.nn.Parameter(torch.randn(3, dim, generator=torch.Generator().manual_seed(0)), requires_grad=False)

    def forward(self, images: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        cells = torch.nn.functional.adaptive_avg_pool2d(images, grid).flatten(2).transpose(1, 2)   # (B, gh * gw, 3)
        return cells @ self.weight


def test_teacher_tokens_follow_each_bucket_grid_and_the_settings(tmp_path):
    "Tokens on every bucket's grid equal the teacher's output for the cached image; another teacher or patch is refused."
    write_images(tmp_path / "images", 12, sizes=((80, 40), (50, 50)))
    source = data.ImageFolderSource(tmp_path / "images")
    teacher = PatchTeacher()
    build = lambda out, t=teacher, **kw: build_cache(source, tmp_path / out, IdentityLatents(), None, resolution=32,
                                                     shard_size=5, buckets=data.aspect_buckets(32, multiple=8),
                                                     teacher=t, **{"teacher_patch": 8, "teacher_dtype": torch.float32, **kw})
    manifest = build("cache")
    settings = manifest["settings"]["teacher"]
    assert (settings["name"], settings["version"], settings["dim"], settings["grid"], settings["student_patch"],
            settings["dtype"]) == ("patch-means", "1", 5, [4, 4], 8, "float32")
    cache = LatentCache(tmp_path / "cache")
    grids = set()
    for i in range(len(cache)):
        item = cache.get(i)
        grid = (item["latents"].shape[1] // 8, item["latents"].shape[2] // 8)
        grids.add(grid)
        torch.testing.assert_close(item["teacher_tokens"], teacher(item["latents"][None], grid)[0], rtol=1e-5, atol=1e-6)
    assert grids == {(3, 5), (4, 4)} or grids == {(5, 3), (4, 4)}
    batch = CachedStream(tmp_path / "cache", batch_size=2, seed=0).batch(0)
    assert batch["teacher_tokens"].shape[0] == 2 and batch["teacher_tokens"].shape[2] == 5
    for change, key in [(dict(t=PatchTeacher(name="other")), "teacher="), (dict(teacher_patch=4), "teacher="),
                        (dict(teacher_dtype=torch.bfloat16), "teacher=")]:
        with pytest.raises(ValueError, match=key) as error:
            build("cache", **change)
        assert "\n" not in str(error.value)
    with pytest.raises(ValueError, match="teacher_patch=3"):
        build("odd", teacher_patch=3)
    build("bf16", teacher_dtype=torch.bfloat16)
    bf16 = LatentCache(tmp_path / "bf16").get(0)["teacher_tokens"]
    assert bf16.dtype == torch.float32                                           # stored in bf16, read as fp32
    torch.testing.assert_close(bf16, cache.get(0)["teacher_tokens"], rtol=2 ** -8, atol=1e-6)


def test_caches_without_teacher_tokens_yield_none(tmp_path):
    write_images(tmp_path / "images", 4)
    build_cache(data.ImageFolderSource(tmp_path / "images"), tmp_path / "cache", IdentityLatents(), None, resolution=32)
    cache = LatentCache(tmp_path / "cache")
    assert cache.teacher is None and "teacher_tokens" not in cache.collate([0, 1])


def test_shapes_source_caches_like_a_folder(tmp_path):
    source = data.ShapesSource(6, seed=2, size=32)
    build_cache(source, tmp_path / "cache", IdentityLatents(), None, resolution=32)
    cache = LatentCache(tmp_path / "cache")
    item = cache.get(4, "short")
    assert (len(cache), item["key"], item["caption"]) == (6, "train/2/4", source[4].captions["short"])
    assert json.loads((tmp_path / "cache" / "manifest.json").read_text())["settings"]["source"]["kind"] == "shapes"
