"""prx_nb.text: loading from saved tiny checkpoints, the embedding cache across instances, bad input."""
import pytest
import torch

from prx_nb import shapes
from prx_nb.text import (UNK, CachedTextEncoder, HFTextEncoder, TextEmbeddings, WordTextEncoder, build_vocab,
                         caption_words, drop_captions, save_tiny_t5gemma, t5gemma_text_encoder)

CAPTIONS = ["a small red circle", "a large blue square at the top", ""]


@pytest.fixture(scope="module")
def t5gemma_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("t5gemma")
    save_tiny_t5gemma(path)
    return str(path)


def test_t5gemma_loads_from_encoder_decoder_checkpoint(t5gemma_dir):
    encoder = t5gemma_text_encoder(t5gemma_dir, max_length=12)
    emb = encoder.encode(CAPTIONS)
    assert isinstance(emb, TextEmbeddings)
    assert emb.tokens.shape == (3, 12, encoder.dim) and emb.tokens.dtype == torch.float32
    assert emb.mask.dtype == torch.bool and emb.mask[:, 0].all()  # <bos> is always a real token
    assert emb.mask.sum(1).tolist() == [5, 8, 1]
    assert torch.isfinite(emb.tokens).all()
    assert not emb.tokens.requires_grad  # frozen encoder runs under no_grad


def test_bf16_weights_still_return_fp32(t5gemma_dir):
    encoder = HFTextEncoder.from_pretrained(t5gemma_dir, max_length=8, dtype=torch.bfloat16)
    assert next(encoder.model.parameters()).dtype == torch.bfloat16
    reference = HFTextEncoder.from_pretrained(t5gemma_dir, max_length=8)
    emb, ref = encoder.encode(CAPTIONS), reference.encode(CAPTIONS)
    assert emb.tokens.dtype == torch.float32
    assert torch.allclose(emb.tokens, ref.tokens, atol=0.1, rtol=0.05)
    assert encoder.identifier != reference.identifier  # dtype is part of the cache key


def test_cache_persists_across_instances_and_skips_the_encoder(t5gemma_dir, tmp_path):
    encoder = HFTextEncoder.from_pretrained(t5gemma_dir, max_length=8)
    first = CachedTextEncoder(encoder, tmp_path).encode(CAPTIONS)

    def fail(captions):
        raise AssertionError(f"encoder called for {captions}")

    encoder.encode = fail  # a second process with a warm cache never runs the encoder
    cached = CachedTextEncoder(encoder, tmp_path)
    again = cached.encode(list(reversed(CAPTIONS)))
    assert torch.equal(again.tokens, first.tokens.flip(0)) and torch.equal(again.mask, first.mask.flip(0))
    assert (cached.hits, cached.misses) == (3, 0)
    assert torch.equal(cached.empty().tokens[0], first.tokens[2])
    assert not list(tmp_path.rglob("*.tmp"))  # writes are atomic


def test_word_encoder_is_seeded_and_trainable():
    vocab = build_vocab(CAPTIONS)
    a, b = WordTextEncoder(vocab, dim=16, heads=2, seed=3), WordTextEncoder(vocab, dim=16, heads=2, seed=3)
    assert torch.equal(a.encode(CAPTIONS).tokens, b.encode(CAPTIONS).tokens)
    assert all(p.requires_grad for p in a.parameters())
    with pytest.raises(ValueError, match="trainable parameters"):
        CachedTextEncoder(a, "unused")


def test_shapes_captions_fit_the_word_level_encoder():
    records = shapes.sample_records(400, seed=1)
    captions = [f(r) for r in records for f in (shapes.long_caption, shapes.short_caption)]
    encoder = WordTextEncoder(build_vocab(shapes.caption_vocabulary()), max_length=64)   # what the trainer builds
    ids, mask = encoder.tokenize(captions)
    assert not (ids == encoder.word_index[UNK]).any() and mask.sum(1).max() < 64
    assert caption_words is shapes.caption_words                       # one word split for vocabulary and tokenizer


def test_bad_input_names_the_value(tmp_path):
    encoder = WordTextEncoder(build_vocab(CAPTIONS), dim=16, heads=2)
    with pytest.raises(ValueError, match="one string"):
        encoder.encode("a red circle")
    with pytest.raises(ValueError, match="got int 3"):
        encoder.encode(["a red circle", 3])
    with pytest.raises(ValueError, match="p=-0.1"):
        drop_captions(CAPTIONS, -0.1)
    with pytest.raises(ValueError, match="max_length=0"):
        WordTextEncoder(build_vocab(CAPTIONS), max_length=0)
    with pytest.raises(FileNotFoundError, match="no such directory"):
        HFTextEncoder.from_pretrained(str(tmp_path / "missing"))


def test_drop_captions_is_seeded():
    caps = [f"c{i}" for i in range(100)]
    one = drop_captions(caps, 0.5, torch.Generator().manual_seed(7))
    assert one == drop_captions(caps, 0.5, torch.Generator().manual_seed(7))
    assert one != drop_captions(caps, 0.5, torch.Generator().manual_seed(8))
