"""synthgen: learn small synthetic datasets that a network can learn in sequence without forgetting.

>>> import synthgen
>>> art = synthgen.generate(out="split_mnist.safetensors")   # Split-MNIST on the embedded mnist-5k digits
>>> art = synthgen.load("split_mnist.safetensors")
>>> images, labels, targets = art.task(0)
>>> cert = synthgen.verify(art)      # retrain in sequence next to N real images, certify: cert.certified
"""

from synthgen.api import check, export, generate, load, verify, write_verification
from synthgen.core.errors import SynthgenError
from synthgen.core.version import __version__
from synthgen.data.config import SourceConfig, TaskConfig
from synthgen.format.artifact import Artifact, ArtifactError
from synthgen.format.artifact import save_artifact as save
from synthgen.format.certificate import Certificate
from synthgen.generation.config import GenerateConfig, LearnerConfig
from synthgen.generation.presets import generate_config
from synthgen.share.hub import publish, pull
from synthgen.verification.config import VerifyConfig

__all__ = [
    "__version__",
    "generate",
    "generate_config",
    "load",
    "save",
    "verify",
    "write_verification",
    "check",
    "export",
    "publish",
    "pull",
    "Artifact",
    "ArtifactError",
    "Certificate",
    "SynthgenError",
    "GenerateConfig",
    "SourceConfig",
    "TaskConfig",
    "LearnerConfig",
    "VerifyConfig",
]
