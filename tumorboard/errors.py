"""The small exception family of the domain; each boundary maps it once (web/errors.py, cli.py)."""

from __future__ import annotations

from typing import Any


class TumorboardError(Exception):
    """Base class. ``message`` is a German msgid, translated at the boundary with ``params``."""

    def __init__(self, message: str, *, field: str | None = None, **params: Any) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.params = params


class NotFound(TumorboardError):
    pass


class PermissionDenied(TumorboardError):
    pass


class Conflict(TumorboardError):
    pass


class InvalidInput(TumorboardError):
    pass


class ConfigurationError(TumorboardError):
    pass
