"""The one error family: every user-facing error synthgen raises is a :class:`SynthgenError`.

Each module keeps its own subclass (ArtifactError, ConfigError, HubError, ...), so a caller can
catch one kind or all of them; the CLI catches only this base and prints its one-line message.
Anything else that escapes is a bug.
"""

from __future__ import annotations


class SynthgenError(Exception):
    """Base of every error synthgen raises for bad input or an unusable environment."""
