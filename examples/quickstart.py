"""The README's Python example: generate the data, train your own network on it in sequence, verify, export.

python examples/quickstart.py OUT_DIR            # the default data (minutes) and the default verify
python examples/quickstart.py OUT_DIR --tiny     # seconds: 2 tasks, a short run, 2 verification seeds
"""

import sys
from pathlib import Path

import torch

import synthgen
from synthgen.format.recipe import optimiser_of
from synthgen.nn.consumer import torch_optimizer


def build(in_shape, num_classes):
    """Your own network: any callable (in_shape, num_classes) -> nn.Module, importable as 'module:callable'."""
    c, h, w = in_shape
    return torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(c * h * w, 256), torch.nn.ReLU(), torch.nn.Linear(256, num_classes)
    )


TINY_GENERATE = {
    "tasks": {"split": "0,1/2,3"},
    "learners": {"archs": ["mlp"]},
    "ipc": 5,
    "inner_steps": 5,
    "steps": 20,
    "replay_pool": 8,
    "feature_weight": 0.0,
    "init_steps": 10,
    "eval_every": 0,
}
TINY_VERIFY = {
    "seeds": [0, 1],
    "heldout": [],
    "peer_lrs": [1e-3],
    "replay_epochs": [2],
    "replay_5n_epochs": [2],
    "gdumb_epochs": [30],
    "gdumb_shifted_epochs": [],
    "memory_free": False,
    "joint_epochs": 1,
}


def main(out: Path, tiny: bool) -> None:
    config = synthgen.GenerateConfig()  # the default: Split-MNIST on the embedded digits
    if tiny:
        config = config.merged(TINY_GENERATE)
    art = synthgen.generate(config, out=out / "my.safetensors")  # or synthgen.load("my.safetensors")

    model = build((1, 28, 28), 10)
    for t, lr in enumerate(art.recipe["lr_per_task"]):  # train in sequence, per the recipe:
        keep = art.task_ids <= t if art.recipe["rehearsal"] else art.task_ids == t  # task t with the sets of 0..t
        images, targets = art.images[keep], art.targets()[keep]  # targets: the learned soft labels
        opt = torch_optimizer(model.parameters(), lr, optimiser_of(art.recipe))  # torch.optim.SGD(momentum=0.5)
        model.train()
        for _ in range(art.recipe["steps_per_task"]):
            opt.zero_grad()
            (-(targets * torch.log_softmax(model(images), 1)).sum(1).mean()).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), art.recipe.get("clip_grad_norm", float("inf")))
            opt.step()
    model.eval()  # predict with BatchNorm's running statistics

    cfg = synthgen.VerifyConfig(models=("quickstart:build",))  # your network (module:callable), judged too
    if tiny:
        cfg = cfg.merged(TINY_VERIFY)
    cert = synthgen.verify(art, cfg)
    print(cert.verdict, *cert.reasons, sep="\n")
    synthgen.write_verification(cert, out / "my.safetensors")  # certificate + pictures beside the file

    folder = synthgen.export(out / "my.safetensors", out / "my_hf")  # a Hugging Face dataset folder
    print("exported to", folder)


if __name__ == "__main__":
    main(Path(sys.argv[1]), "--tiny" in sys.argv)
