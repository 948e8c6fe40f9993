"""The one exception type for bad user input; tools turn it into ``tool: path: what is wrong`` (``querytrack.core.cli``)."""

from __future__ import annotations

import os


class UserError(Exception):
    """Bad input (or output path) given to a tool; ``str(e)`` is ``path: message`` (``message`` without path).

    Args:
        path: the file or folder at fault (``None`` when there is none).
        message: what is wrong, naming the video / frame / entry where it applies.
    """

    def __init__(self, path: str | os.PathLike[str] | None, message: str) -> None:
        self.path = None if path is None else str(path)
        self.message = message
        super().__init__(message if self.path is None else f"{self.path}: {message}")
