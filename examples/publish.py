"""Publish an exported folder to the hub at HF_ENDPOINT (token from HF_TOKEN or a login) in one commit.

    HF_TOKEN=hf_... python examples/publish.py runs/split_mnist_hf your-org/split-mnist-synthetic

Anyone then loads exactly that version with ``synthgen.load("your-org/split-mnist-synthetic@<commit>")``
(pulled, names and sha256 checked) or ``datasets.load_dataset("your-org/split-mnist-synthetic", "task_1")``.
"""

import sys

import synthgen

folder, repo = sys.argv[1], sys.argv[2]
done = synthgen.publish(folder, repo)  # one commit: data, card, metadata, certificate
print("published", done.repo_url, "commit:", done.commit)
