"""Logger factories that need a decision at start-up (kept out of YAML)."""

from __future__ import annotations

import os
from typing import Any


def wandb_has_key() -> bool:
    """True when W&B can authenticate: ``WANDB_API_KEY`` or a ``.netrc`` entry from ``wandb login``."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    netrc = os.path.expanduser("~/.netrc")
    if os.path.isfile(netrc):
        with open(netrc) as f:
            return "api.wandb.ai" in f.read()
    return False


def wandb_logger(offline: bool | None = None, **kwargs: Any) -> Any:
    """A ``WandbLogger``; ``offline=None`` means offline exactly when no API key is configured.

    Offline runs are written under ``save_dir/wandb`` and can be uploaded later with ``wandb sync``.
    """
    from lightning.pytorch.loggers import WandbLogger

    if offline is None:
        offline = not wandb_has_key()
    if offline:
        os.environ.setdefault("WANDB_MODE", "offline")
    return WandbLogger(offline=offline, **kwargs)
