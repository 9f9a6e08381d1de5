"""Train any network on a synthgen artifact exactly as its recipe says, then score it on real test images.

python examples/train_in_sequence.py my.safetensors
"""

import sys

import torch
from torchvision.transforms import v2

import synthgen
from synthgen.data.config import SourceConfig
from synthgen.data.sources import load_source, normalise
from synthgen.nn.augment import NO_FLIP_FAMILIES, dsa_augment
from synthgen.nn.learners import build_learner

art = synthgen.load(sys.argv[1])
model = build_learner(sys.argv[2] if len(sys.argv) > 2 else "cnn_bn", (1, 28, 28), 10, seed=0)  # or your nn.Module
momentum = art.recipe.get("momentum", 0.0)  # a fresh torch.optim.SGD per task
shift = art.recipe.get("shift", 0)  # every step moves each image by up to this many pixels, edges repeated
dsa = art.recipe.get("dsa", False)  # then every step augments the images by DSA's transformations
clip = art.recipe.get("clip_grad_norm", 0.0)  # > 0: every step clips the gradient to this L2 norm
cosine = art.recipe.get("lr_schedule") == "cosine"  # the lr falls to 0 over each task's steps
crop = v2.RandomCrop(tuple(art.images.shape[-2:]), padding=shift, padding_mode="edge")
for t, lr in enumerate(art.recipe["lr_per_task"]):
    keep = art.task_ids <= t if art.recipe.get("rehearsal") else art.task_ids == t  # rehearsal: tasks 0..t together
    x, targets = art.images[keep], art.targets()[keep]
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, art.recipe["steps_per_task"]) if cosine else None
    model.train()
    for _ in range(art.recipe["steps_per_task"]):
        xb = torch.stack([crop(img) for img in x]) if shift else x  # a new offset per image and step
        xb = dsa_augment(xb, None, NO_FLIP_FAMILIES) if dsa else xb  # a family per step, parameters per image
        opt.zero_grad()
        loss = -(targets * torch.log_softmax(model(xb), dim=1)).sum(1).mean()
        loss.backward()
        if clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        if schedule:
            schedule.step()
model.eval()

source = load_source(SourceConfig.from_dict(art.metadata["source"]["config"]))  # the same real data and split
test_x, test_y = source.split("test")
with torch.no_grad():
    predicted = model(normalise(test_x, art.metadata["source"]["normalisation"])).argmax(1)
print(f"class-incremental accuracy on {len(test_y)} real test images: {(predicted == test_y).float().mean():.3f}")
