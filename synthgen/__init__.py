"""synthgen: learn small synthetic datasets that a network can learn in sequence without forgetting.

    >>> import synthgen
    >>> art = synthgen.generate()                 # Split-MNIST on the embedded mnist-5k digits
    >>> synthgen.save(art, "split_mnist.safetensors")
    >>> art = synthgen.load("split_mnist.safetensors")
    >>> images, labels, targets = art.task(0)
    >>> cert = synthgen.verify(art)               # retrain in sequence, judge, certify
"""
from ._version import __version__
from .api import generate, load, verify
from .hf_export import export_folder as export
from .hub import publish, pull
from .artifact import Artifact, ArtifactError, save_artifact as save
from .config import GenerateConfig, LearnerConfig, SourceConfig, TaskConfig, VerifyConfig

__all__ = ["__version__", "generate", "load", "save", "verify", "export", "publish", "pull", "Artifact", "ArtifactError",
           "GenerateConfig", "SourceConfig", "TaskConfig", "LearnerConfig", "VerifyConfig"]
