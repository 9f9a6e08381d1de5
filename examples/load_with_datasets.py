"""Read an exported folder (or a hub repo) with the `datasets` library alone.

python examples/load_with_datasets.py runs/split_mnist_hf
"""

import sys

from datasets import load_dataset

ds = load_dataset(sys.argv[1], "task_1", split="train").with_format("torch")[:]
x, targets = ds["pixels"], ds["soft_label"]  # the exact float32 training tensors and the learned soft labels
print(
    f"task 1: {tuple(x.shape)} images, soft labels {tuple(targets.shape)}, labels {sorted(set(ds['label'].tolist()))}"
)
