"""synthgen: learn small synthetic datasets that a network can learn in sequence without forgetting.

    >>> import synthgen
    >>> art = synthgen.generate()                 # Split-MNIST on the embedded mnist-5k digits
    >>> synthgen.save(art, "split_mnist.safetensors")
    >>> art = synthgen.load("split_mnist.safetensors")
    >>> images, labels, targets = art.task(0)
"""
from ._version import __version__
from .api import generate, load
from .artifact import Artifact, ArtifactError, save_artifact as save
from .config import GenerateConfig, LearnerConfig, SourceConfig, TaskConfig

__all__ = ["__version__", "generate", "load", "save", "Artifact", "ArtifactError",
           "GenerateConfig", "SourceConfig", "TaskConfig", "LearnerConfig"]
