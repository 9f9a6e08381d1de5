"""synthgen: learn small synthetic datasets that a network can learn in sequence without forgetting.

    >>> import synthgen
    >>> art = synthgen.generate(out="split_mnist.safetensors")   # Split-MNIST on the embedded mnist-5k digits
    >>> art = synthgen.load("split_mnist.safetensors")
    >>> images, labels, targets = art.task(0)
    >>> cert = synthgen.verify(art)                              # retrain in sequence, next to real peers, certify
"""
from ._version import __version__
from .api import check, export, generate, load, verify, write_verification
from .artifact import Artifact, ArtifactError, save_artifact as save
from .config import GenerateConfig, LearnerConfig, SourceConfig, TaskConfig, VerifyConfig
from .errors import SynthgenError
from .hub import publish, pull

__all__ = ["__version__", "generate", "load", "save", "verify", "write_verification", "check", "export", "publish",
           "pull", "Artifact", "ArtifactError", "SynthgenError", "GenerateConfig", "SourceConfig", "TaskConfig",
           "LearnerConfig", "VerifyConfig"]
