"""Which learners a verification trains: the generation pool, held-out zoo families, the user's own networks.

Also the real source the artifact names, loaded with the same split it was made with.
"""

from __future__ import annotations

import torch

from synthgen.data.config import SourceConfig
from synthgen.data.sources import SourceData, SourceError, load_source
from synthgen.format.artifact import Artifact
from synthgen.nn.learners import (
    START_ARCH,
    ZOO,
    build_learner,
    check_archs,
    family_of,
    has_batchnorm,
    is_import_spec,
    num_parameters,
)
from synthgen.verification.config import VerifyConfig

# default held-out zoo names, in order of preference; families used in generation are skipped
HELDOUT_PREFERENCE = ("cnn_bn", "cnn", "convnet3_s", "lenet", "resnet8", "mlp256", "convnet")


MIN_HELDOUT = 3


def source_for(art: Artifact, data_dir: str | None = None) -> SourceData:
    """Load the artifact's declared source with its split; refuse a split that differs."""
    cfg = dict(art.metadata["source"].get("config") or {"name": art.metadata["source"]["name"]})
    cfg["data_dir"] = data_dir
    source = load_source(SourceConfig.from_dict(cfg))
    want = art.metadata["source"].get("split", {}).get("test_index_sha256")
    got = source.split_record()["test_index_sha256"]
    if want and want != got:
        raise SourceError(
            f"source '{source.name}' gives a different test split ({got}) than the artifact "
            f"was made with ({want}); cannot verify on the right data"
        )
    return source


def sized_for(cfg: VerifyConfig, art: Artifact, source: SourceData) -> VerifyConfig:
    """``cfg`` with the references' epochs cut to the size of the artifact's largest task in ``source``'s training
    split (VerifyConfig.sized_to)."""
    labels = source.split("train")[1]
    return cfg.sized_to(max(int(torch.isin(labels, torch.tensor(list(c))).sum()) for c in art.tasks))


def default_heldout(generation: list[str]) -> list[str]:
    """At least MIN_HELDOUT zoo learners of distinct families not used in generation, one with
    BatchNorm and one with max pooling among them (HELDOUT_PREFERENCE order)."""
    used = {family_of(a) for a in generation}
    picked: list[str] = []
    for name in HELDOUT_PREFERENCE:
        fam = ZOO[name].family
        if fam not in used and fam not in {ZOO[p].family for p in picked}:
            picked.append(name)
    return picked[:MIN_HELDOUT]


def feature_archs(art: Artifact) -> list[str]:
    """The zoo networks whose random bodies shaped the images (``feature_weight`` > 0; ``init`` "dm"), if any: their
    families saw the data being made, so they are not held out."""
    gen = art.metadata.get("generation")
    cfg = gen.get("config") if isinstance(gen, dict) else None
    if not isinstance(cfg, dict):
        return []
    weight, arch = cfg.get("feature_weight", 0), cfg.get("feature_arch")
    archs = [arch] if isinstance(weight, (int, float)) and weight > 0 and isinstance(arch, str) and arch in ZOO else []
    if cfg.get("init") == "dm":
        archs.append(START_ARCH)
    return archs


def arch_groups(art: Artifact, cfg: VerifyConfig) -> dict[str, str]:
    """arch -> 'generation' | 'heldout' | 'user'."""
    gen = list(cfg.archs or art.metadata.get("generation", {}).get("archs") or ["mlp"])
    held = (
        list(cfg.heldout)
        if cfg.heldout is not None
        else default_heldout([a for a in gen if a in ZOO] + feature_archs(art))
    )
    check_archs(gen + held + list(cfg.models))
    groups = {a: "generation" for a in gen}
    groups.update({a: "heldout" for a in held if a not in groups})
    groups.update({m: "user" for m in cfg.models if m not in groups})
    return groups


def describe(arch: str, group: str, art: Artifact) -> dict:
    """What the certificate records of a learner: group, family, parameter count, BatchNorm."""
    model = build_learner(arch, tuple(art.images.shape[1:]), art.num_classes, 0)
    return {
        "group": group,
        "family": family_of(arch),
        "params": num_parameters(model),
        "batchnorm": has_batchnorm(model),
        "about": "user model" if is_import_spec(arch) else ZOO[arch].about,
    }
