"""Export to a Hugging Face dataset folder: load_dataset reads it, exactly, and it round-trips."""

import json

import pytest
import torch
import yaml
from typer.testing import CliRunner

from synthgen.cli.main import app
from synthgen.core.seeding import derive_seed
from synthgen.format.artifact import ArtifactError
from synthgen.format.recipe import optimiser_of
from synthgen.nn.consumer import train_on_tasks
from synthgen.nn.learners import build_learner
from synthgen.share.export import ExportError, artifact_from_parquet, export_folder, load_folder
from synthgen.verification.runs import RealStream, Scorer, evaluate_artifact

runner = CliRunner()


@pytest.fixture(scope="module")
def folder(tiny_artifact, tmp_path_factory):
    return export_folder(tiny_artifact, tmp_path_factory.mktemp("exp") / "ds")


def _card_yaml(folder):
    text = (folder / "README.md").read_text()
    return yaml.safe_load(text.split("---")[1])


def _card_code(art, path):
    """``art`` exported to ``path``: the folder and the Python snippet of its card."""
    folder = export_folder(art, path)
    return folder, (folder / "README.md").read_text().split("```python\n")[1].split("```")[0]


def _model_of_card(code, folder):
    """The card's snippet run as a script (one namespace) on ``folder``, its model the zoo's MLP (seed 5)."""
    ns = {"build": _mlp, "__name__": "card"}
    exec(code.replace("REPO_ID_OR_FOLDER", str(folder)).replace("model = ...", "model = build()"), ns)
    return ns["model"]


def _mlp():
    return build_learner("mlp", (1, 28, 28), 10, 5)


def test_layout_and_card(folder, tiny_artifact):
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert files == [
        "README.md",
        "data/task_0/train-00000-of-00001.parquet",
        "data/task_1/train-00000-of-00001.parquet",
        "images/preview.png",
        "synthgen.json",
        "synthgen.safetensors",
    ]
    card = _card_yaml(folder)
    assert {"synthetic", "continual-learning"} <= set(card["tags"])
    assert card["task_categories"] == ["image-classification"] and card["size_categories"] == ["n<1K"]
    assert card["license"] == "cc-by-sa-3.0"
    configs = {c["config_name"]: c for c in card["configs"]}
    assert set(configs) == {"all", "task_0", "task_1"} and configs["all"]["default"] is True
    infos = {i["config_name"]: i for i in card["dataset_info"]}
    assert infos["task_1"]["splits"][0]["num_examples"] == 10 and infos["all"]["splits"][0]["num_examples"] == 20
    assert all(i["splits"][0]["num_bytes"] > 0 for i in infos.values())
    prose = (folder / "README.md").read_text()
    for text in ("Recipe", "load_dataset", tiny_artifact.sha256, "Provenance", "Not verified yet"):
        assert text in prose
    # the card's consumer code trains with the recipe's momentum
    assert f"torch.optim.SGD(model.parameters(), lr=lr, momentum={tiny_artifact.recipe['momentum']!r})" in prose
    assert json.loads((folder / "synthgen.json").read_text())["sha256"] == tiny_artifact.sha256


def test_load_dataset_returns_the_exact_tensors(folder, tiny_artifact, tmp_path):
    import datasets

    for k in range(2):
        loaded = datasets.load_dataset(str(folder), f"task_{k}", split="train", cache_dir=str(tmp_path))
        assert loaded.features["label"].names == [str(i) for i in range(10)]
        ds = loaded.with_format("torch")[:]
        x, y, t = tiny_artifact.task(k)
        assert torch.equal(ds["pixels"], x) and torch.equal(ds["label"], y) and torch.equal(ds["soft_label"], t)
        assert set(ds["task"].tolist()) == {k}
    every = datasets.load_dataset(str(folder), split="train", cache_dir=str(tmp_path)).with_format("torch")[:]
    assert torch.equal(every["pixels"], tiny_artifact.images)


def test_training_on_load_dataset_equals_training_on_the_artifact(folder, tiny_artifact, mnist5k, tmp_path):
    import datasets

    art = tiny_artifact
    tasks = []
    for k in range(2):
        ds = datasets.load_dataset(str(folder), f"task_{k}", split="train", cache_dir=str(tmp_path)).with_format(
            "torch"
        )[:]
        tasks.append((ds["pixels"], ds["soft_label"], None))
    recipe = json.loads((folder / "synthgen.json").read_text())["recipe"]  # the consumer reads the folder's recipe
    assert recipe["momentum"] > 0  # the default recipe uses momentum: a consumer that drops it trains differently
    model = build_learner("mlp", (1, 28, 28), 10, derive_seed(0, "learner", "mlp"))
    tests = RealStream.of(art, mnist5k).sets("test")
    score = Scorer(tests, art.tasks, 10, recipe["scenario"])
    train_on_tasks(
        model, tasks, recipe["lr_per_task"], recipe["steps_per_task"], after_task=score, optimiser=optimiser_of(recipe)
    )
    assert score.run.R == evaluate_artifact(art, mnist5k, "mlp", 0).R


def test_round_trip_back_to_safetensors(folder, tiny_artifact, tmp_path):
    back = artifact_from_parquet(folder)
    assert back.sha256 == tiny_artifact.sha256


def test_parquet_tampering_detected(folder, tmp_path):
    import shutil

    import pyarrow as pa
    import pyarrow.parquet as pq

    copy = shutil.copytree(folder, tmp_path / "copy")
    path = copy / "data/task_0/train-00000-of-00001.parquet"
    table = pq.read_table(path)
    labels = table.column("label").to_pylist()
    labels[0] = 1 - labels[0]  # still a class of the task: only the hash can catch it
    pq.write_table(table.set_column(table.schema.get_field_index("label"), "label", pa.array(labels, pa.int64())), path)
    with pytest.raises(ArtifactError, match="sha256 mismatch"):
        artifact_from_parquet(copy)


def test_existing_folder_needs_overwrite_and_write_is_atomic(tiny_artifact, tmp_path):
    dest = tmp_path / "ds"
    export_folder(tiny_artifact, dest)
    with pytest.raises(ExportError, match="--overwrite"):
        export_folder(tiny_artifact, dest)
    (tmp_path / "ds.incomplete").mkdir()  # a stale half-build is cleaned, never published
    (tmp_path / "ds.incomplete" / "junk").write_text("x")
    export_folder(tiny_artifact, dest, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == ["ds"]
    assert load_folder(dest).sha256 == tiny_artifact.sha256


def test_export_failure_leaves_no_partial_folder(tiny_artifact, tmp_path, monkeypatch):
    import synthgen.share.export as hx

    def boom(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(hx, "render_card", boom)
    with pytest.raises(OSError, match="No space"):
        export_folder(tiny_artifact, tmp_path / "ds")
    assert [p for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == []


def test_verify_a_folder_writes_outputs_in_the_cwd(folder, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, ["verify", str(folder), "--quick", "--seeds", "1", "--heldout", ""])
    cert = json.loads((tmp_path / "ds.certificate.json").read_text())
    assert res.exit_code == (0 if cert["verdict"] == "certified" else 1), res.output
    assert cert["artifact_sha256"] == load_folder(folder).sha256
    assert (tmp_path / "ds.verify" / "heatmap_mlp.png").exists()
    assert not (folder / "certificate.json").exists()  # the folder itself is left as it was


@pytest.mark.parametrize("scenario", ["class-incremental", "task-incremental"], ids=["class-il", "task-il"])
@pytest.mark.parametrize(
    ("clip", "schedule"), [(0.0, "constant"), (0.05, "constant"), (0.0, "cosine")], ids=["sgd", "clipped", "cosine"]
)
@pytest.mark.parametrize("rehearsal", [False, True], ids=["plain", "rehearsal"])
def test_the_cards_training_code_trains_what_the_verifier_trains(
    tiny_artifact, tmp_path, rehearsal, scenario, clip, schedule
):
    """The card's Python snippet, run as written on the exported folder, gives the verifier's model bit for bit,
    with and without synthetic rehearsal (which changes the snippet's task selection), task-incrementally
    (each image's logits masked to its own task's classes), with a recipe that clips the gradient and with one
    that anneals each task's lr by a cosine."""
    import dataclasses

    from synthgen.verification.runs import artifact_tasks

    meta = {
        **tiny_artifact.metadata,
        "scenario": scenario,
        "recipe": {**tiny_artifact.recipe, "rehearsal": rehearsal, "scenario": scenario, "clip_grad_norm": clip,
                   "lr_schedule": schedule},
    }  # fmt: skip
    art = dataclasses.replace(tiny_artifact, metadata=meta)
    folder, code = _card_code(art, tmp_path / "ds")
    assert ("<= k" in code) == rehearsal
    assert ("masked_fill" in code) == (scenario == "task-incremental")
    assert ("clip_grad_norm_(model.parameters(), 0.05)" in code) == bool(clip)
    assert ("CosineAnnealingLR(opt, " in code and "schedule.step()" in code) == (schedule == "cosine")
    model = _model_of_card(code, folder)
    want = train_on_tasks(
        _mlp(),
        artifact_tasks(art),
        art.recipe["lr_per_task"],
        art.recipe["steps_per_task"],
        optimiser=optimiser_of(art.recipe),
    )
    for (k, v), (_, w) in zip(model.named_parameters(), want.named_parameters()):
        assert torch.equal(v, w), k


def test_the_cards_training_code_shifts_the_images_when_the_recipe_does(tiny_artifact, tmp_path):
    """A recipe that shifts: the card's snippet moves every image at every step with torchvision's edge-padded
    RandomCrop (the same shifts, tests/test_augment.py) and trains a different model than without."""
    import dataclasses

    runs = {}
    for shift in (0, 2):
        meta = {**tiny_artifact.metadata, "recipe": {**tiny_artifact.recipe, "shift": shift}}
        folder, code = _card_code(dataclasses.replace(tiny_artifact, metadata=meta), tmp_path / f"ds{shift}")
        assert ('RandomCrop([28, 28], padding=2, padding_mode="edge")' in code) == (shift == 2)
        torch.manual_seed(0)
        runs[shift] = dict(_model_of_card(code, folder).named_parameters())
    assert not all(torch.equal(runs[0][k], runs[2][k]) for k in runs[0])


def test_the_cards_training_code_augments_by_dsa_as_the_verifier_does(tiny_artifact, tmp_path):
    """A recipe with ``dsa``: the card's snippet augments every step with synthgen's DSA transformations; seeded like
    the verifier's consumer, it trains the model that train_on_tasks trains (and another than without)."""
    import dataclasses

    from synthgen.verification.runs import artifact_tasks

    art = dataclasses.replace(tiny_artifact, metadata={**tiny_artifact.metadata, "recipe": {**tiny_artifact.recipe,
                              "dsa": True}})  # fmt: skip
    folder, code = _card_code(art, tmp_path / "ds")
    assert "dsa_augment(x, None, NO_FLIP_FAMILIES)" in code and "RandomCrop" not in code
    torch.manual_seed(0)
    model = _model_of_card(code, folder)
    rec = art.recipe
    for dsa in (True, False):
        torch.manual_seed(0)
        want = train_on_tasks(_mlp(), artifact_tasks(art), rec["lr_per_task"], rec["steps_per_task"],
                              optimiser=optimiser_of(rec), dsa=dsa)  # fmt: skip
        same = all(torch.equal(v, w) for v, w in zip(model.parameters(), want.parameters()))
        assert same == dsa
