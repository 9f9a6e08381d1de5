"""Real images in place of the synthetic ones: the judged peers that train by the artifact's own recipe."""

import torch

from synthgen.data.sources import normalise
from synthgen.verification.real_sets import herding, in_place_of
from synthgen.verification.runs import evaluate_artifact


def test_herding_tracks_the_class_mean_better_than_a_random_draw():
    x = (
        torch.randn(300, 1, 6, 6, generator=torch.Generator().manual_seed(0))
        + torch.linspace(0, 3, 300)[:, None, None, None]
    )
    mean = x.mean(0)
    picked = herding(x, 10)
    assert len(set(picked.tolist())) == 10 and torch.equal(picked, herding(x, 10))  # distinct, deterministic
    herd = (x[picked].mean(0) - mean).norm()
    draws = [(x[torch.randperm(300, generator=torch.Generator().manual_seed(s))[:10]].mean(0) - mean).norm()
             for s in range(20)]  # fmt: skip
    assert herd < 0.5 * min(draws), (float(herd), float(min(draws)))


def test_in_place_keeps_size_balance_and_recipe_and_takes_real_images_of_each_class(tiny_artifact, mnist5k):
    x, y = mnist5k.split("train")
    real = normalise(x, tiny_artifact.metadata["source"]["normalisation"])
    for selection in ("random", "herding"):
        art = in_place_of(tiny_artifact, mnist5k, selection, seed=0)
        assert torch.equal(art.labels, tiny_artifact.labels) and torch.equal(art.task_ids, tiny_artifact.task_ids)
        assert art.soft_labels is None and art.recipe["lr_per_task"] == tiny_artifact.recipe["lr_per_task"]
        for img, c in zip(art.images, art.labels):  # each image is a real training image of its own class
            assert ((real[y == c] - img).flatten(1).abs().amax(1) == 0).any()
    a, b = in_place_of(tiny_artifact, mnist5k, "random", 0), in_place_of(tiny_artifact, mnist5k, "random", 1)
    assert not torch.equal(a.images, b.images)  # a fresh draw per verification seed
    h0, h1 = in_place_of(tiny_artifact, mnist5k, "herding", 0), in_place_of(tiny_artifact, mnist5k, "herding", 1)
    assert torch.equal(h0.images, h1.images)


def test_the_data_teaches_more_than_random_real_images_under_its_own_recipe(small_artifact, mnist5k):
    """The improvement over random the certificate reports: measured +0.1 or more on the MLP."""
    seeds = (0, 1, 2)
    synth = [evaluate_artifact(small_artifact, mnist5k, "mlp", s).R[-1] for s in seeds]
    rand = [
        evaluate_artifact(in_place_of(small_artifact, mnist5k, "random", s), mnist5k, "mlp", s).R[-1] for s in seeds
    ]
    acc = lambda rows: sum(sum(r) / len(r) for r in rows) / len(rows)  # noqa: E731
    assert acc(synth) > acc(rand) + 0.05, (acc(synth), acc(rand))


def test_herding_is_chosen_once_per_source_and_equals_a_fresh_choice(tiny_artifact, mnist5k, monkeypatch):
    from synthgen.verification import real_sets

    calls, herd = [], real_sets.herding
    monkeypatch.setattr(real_sets, "herding", lambda x, k: calls.append(k) or herd(x, k))
    monkeypatch.setattr(real_sets, "_HERDED", {})
    first = in_place_of(tiny_artifact, mnist5k, "herding", seed=0)
    classes = len(tiny_artifact.labels.unique())
    assert len(calls) == classes  # once per class ...
    again = in_place_of(tiny_artifact, mnist5k, "herding", seed=1)
    assert len(calls) == classes and torch.equal(first.images, again.images)  # ... not again for another seed
    x, y = mnist5k.split("train")
    norm = tiny_artifact.metadata["source"]["normalisation"]
    for c in tiny_artifact.labels.unique().tolist():  # what herding over the class's normalised images picks
        pool = torch.nonzero(y == c).flatten()
        slots = tiny_artifact.labels == c
        pick = pool[herd(normalise(x[pool], norm), int(slots.sum()))]
        assert torch.equal(first.images[slots], normalise(x[pick], norm))
