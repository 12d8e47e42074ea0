"Contract of `prx_nb.shapes` as the trainer and the metrics use it: streams, batches, captions, splits, the judge's API and its cache."
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from prx_nb import shapes
from prx_nb.shapes import caption_words


def quick_train(calls):
    "A 2-step stand-in for `train_judge` that records its calls."
    real = shapes.train_judge

    def train(**kwargs):
        calls.append(kwargs)
        return real(steps=2, batch_size=4)
    return train


def test_streams_are_deterministic_chunked_and_independent():
    records = shapes.sample_records(40, seed=3)
    assert shapes.sample_records(40, seed=3) == records
    assert shapes.sample_records(10, seed=3, chunk=2) == records[20:30]
    for other in (shapes.sample_records(40, seed=4), shapes.sample_records(40, seed=3, split="eval")):
        assert not set(records) & set(other)
    with pytest.raises(ValueError, match="split='valid'"):
        shapes.sample_records(4, 0, split="valid")


def test_make_batch_as_the_trainer_uses_it():
    records = shapes.sample_records(2 * 6, seed=0, chunk=5)
    batch = shapes.make_batch(records[slice(6, 12)], 32)          # one rank's rows of a global batch
    assert batch.images.shape == (6, 3, 32, 32) and batch.images.dtype == torch.float32
    assert -1 <= batch.images.min() and batch.images.max() <= 1 and batch.images.std() > 0.05
    assert batch.records == records[6:12] and len(batch) == 6
    assert batch.labels.dtype == torch.int64 and batch.labels.tolist() == [r.label for r in records[6:12]]
    assert batch.long_captions == [shapes.long_caption(r) for r in records[6:12]]
    assert batch.short_captions == [shapes.short_caption(r) for r in records[6:12]]
    assert shapes.make_batch(records[6:7], 48).images.shape == (1, 3, 48, 48)


def test_captions_use_the_listed_vocabulary():
    records = shapes.sample_records(400, seed=1)
    captions = [f(r) for r in records for f in (shapes.long_caption, shapes.short_caption)]
    vocabulary = shapes.caption_vocabulary()
    assert vocabulary == sorted(set(vocabulary)) and all(w == w.lower() for w in vocabulary)
    assert {w for c in captions for w in caption_words(c)} <= set(vocabulary)
    for record in records:
        long, short = shapes.long_caption(record), shapes.short_caption(record)
        assert 30 <= len(caption_words(long)) <= 60 and 2 <= len(caption_words(short)) <= 5
        assert all(f"{o.colour} {o.shape}" in long for o in record.objects)


def test_eval_split_and_reference_are_fixed_and_disjoint():
    split = shapes.eval_split(12, seed=0)
    assert split.records == shapes.sample_records(12, 0, "eval")
    assert torch.equal(shapes.eval_split(5, seed=0).images, split.images[:5])
    reference = shapes.reference_images(12, seed=0)
    assert reference.shape == (12, 3, 32, 32) and torch.equal(reference, shapes.reference_images(12, seed=0))
    assert not set(split.records) & set(shapes.sample_records(12, 0, "reference"))


def test_judge_interface_on_a_random_judge():
    judge = shapes.Judge().eval()
    split = shapes.eval_split(10)
    features = shapes.judge_features(judge, torch.zeros(1, 3, 32, 32))
    assert features.ndim == 2 and features.shape[0] == 1
    assert shapes.judge_features(judge, split.images).shape == (10, features.shape[1])
    assert shapes.judge_features(judge, shapes.render(split.records, 64)).shape == (10, features.shape[1])
    predictions = shapes.judge_predictions(judge, split.images)
    assert len(predictions) == 10 and all(isinstance(o, shapes.ShapeObject) for p in predictions for o in p)
    scores = shapes.attribute_accuracy(judge, split.images, split.records)
    assert set(scores) >= {"shape", "colour", "position"} and all(0 <= v <= 1 for v in scores.values())
    assert 0 <= shapes.caption_accuracy(judge, split.images, split.records) <= 1
    with pytest.raises(ValueError, match="10 images but 9 records"):
        shapes.caption_accuracy(judge, split.images, split.records[:9])


def test_load_judge_caches_atomically_and_retrains_a_corrupt_file(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(shapes, "train_judge", quick_train(calls))
    monkeypatch.setenv("PRX_NB_CACHE", str(tmp_path))
    first = shapes.load_judge()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert len(calls) == 1 and [f for f in files if not f.endswith(".lock")] == [f"shapes_judge_{shapes.judge_version()}.pt"]
    second = shapes.load_judge(cache_dir=tmp_path)
    assert len(calls) == 1 and not second.training and not any(p.requires_grad for p in second.parameters())
    assert all(torch.equal(a, b) for a, b in zip(first.parameters(), second.parameters()))
    assert second.history["loss"] == first.history["loss"]
    path = tmp_path / files[-1]
    path.write_bytes(b"not a checkpoint")
    with pytest.warns(UserWarning, match="unreadable"):
        shapes.load_judge()
    assert len(calls) == 2 and shapes.load_judge() is not None and len(calls) == 2


def test_two_processes_share_one_training(tmp_path):
    script = textwrap.dedent("""
        import sys, time
        import torch
        import prx_nb.shapes as shapes
        real = shapes.train_judge
        def train(**kwargs):
            with open(sys.argv[2], "a") as f:
                f.write("trained\\n")
            time.sleep(1.0)                      # hold the lock while the other process arrives
            return real(steps=2, batch_size=4)
        shapes.train_judge = train
        judge = shapes.load_judge(cache_dir=sys.argv[1])
        print(tuple(shapes.judge_features(judge, torch.zeros(2, 3, 32, 32)).shape))
    """)
    marker = tmp_path / "trainings.txt"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "cache"), str(marker)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert outs[0][0] == outs[1][0] and outs[0][0].startswith("(2, ")
    assert marker.read_text().count("trained") == 1
    assert not list((tmp_path / "cache").glob("*.tmp"))
