"""The real data the engine learns from: normalised on its device, with the classes seen so far and their masks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from synthgen.data.sources import SourceData, normalise
from synthgen.data.tasks import Task, mask_of_class, scenario_masks


@dataclass
class RealView:
    """Real training and validation images of a task sequence, normalised, on ``device``."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    tasks: list[Task]
    mask_of_class: torch.Tensor  # [C, C] bool: the logits an image of class c is scored on
    scenario: str
    _seen: dict[int, torch.Tensor] = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, source: SourceData, tasks: list[Task], norm: dict, scenario: str, device: torch.device) -> RealView:
        x, y = source.split("train")
        vx, vy = source.split("val")
        table = mask_of_class([t.classes for t in tasks], source.num_classes, scenario)
        return cls(
            normalise(x, norm).to(device),
            y.to(device),
            normalise(vx, norm).to(device),
            vy.to(device),
            tasks,
            table.to(device),
            scenario,
        )

    def seen_classes(self, upto: int) -> torch.Tensor:
        """Class ids of tasks 0..upto."""
        return torch.tensor([c for t in self.tasks[: upto + 1] for c in t.classes], device=self.train_y.device)

    def train_indices(self, upto: int) -> torch.Tensor:
        """Indices of the training images of tasks 0..upto (cached)."""
        if upto not in self._seen:
            self._seen[upto] = torch.nonzero(torch.isin(self.train_y, self.seen_classes(upto))).flatten()
        return self._seen[upto]

    def batch(self, upto: int, n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``n`` training images of tasks 0..upto drawn with replacement by ``g``: (x, y, per-image logit mask)."""
        candidates = self.train_indices(upto)
        idx = candidates[torch.randint(len(candidates), (n,), generator=g).to(candidates.device)]
        y = self.train_y[idx]
        return self.train_x[idx], y, self.mask_of_class[y]

    def val_sets(self, upto: int) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], list[torch.Tensor | None]]:
        """Validation (images, labels) of each task 0..upto (on the CPU), and their scenario masks."""
        sets = []
        for t in self.tasks[: upto + 1]:
            keep = torch.isin(self.val_y, torch.tensor(t.classes, device=self.val_y.device))
            sets.append((self.val_x[keep].cpu(), self.val_y[keep].cpu()))
        masks = scenario_masks([t.classes for t in self.tasks[: upto + 1]], self.mask_of_class.shape[0], self.scenario)
        return sets, masks

    def seen_mask(self, y: torch.Tensor, upto: int) -> torch.Tensor:
        """[n] bool: which of the labels ``y`` belong to tasks 0..upto."""
        return torch.isin(y, self.seen_classes(upto))


def classes_of(tasks: Sequence[Task]) -> list[tuple[int, ...]]:
    """The class tuples of ``tasks``."""
    return [t.classes for t in tasks]
