"""A base for modules that keep, for inference, something derived from their weights (a packed weight, a
precomputed activation): the cache is never state, and never outlives the weights it came from.

Weights change in three ways a cache has to notice:

* a copy into the parameter (``load_state_dict``, ``param.copy_``, most in-place ops) bumps its version counter,
  and ``.to()`` / ``param.data = ...`` give it new storage: :func:`weights_key` reads both;
* an optimizer step: fused optimizers (``AdamW(fused=True)``, the training default here) write the parameters
  without bumping their version counter, so every ``torch.optim`` step advances a global count that
  :func:`weights_key` includes (``register_optimizer_step_post_hook``);
* a switch of mode: Lightning restores the training flags after validation by setting ``module.training``
  directly, bypassing ``.train()``, so ``.train()`` / ``.eval()`` (which Lightning does call when validation
  starts) both drop the caches: a cache lives at most from one mode switch to the next.

What no key sees is an in-place write through ``param.data`` (it shares the storage but not the version counter):
call ``.eval()`` again after such a write.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.optim.optimizer import register_optimizer_step_post_hook

from querytrack.modeling.roi_extractor import is_exporting

_optimizer_steps = 0


def _count_step(_optimizer: torch.optim.Optimizer, _args: Any, _kwargs: Any) -> None:
    global _optimizer_steps
    _optimizer_steps += 1


register_optimizer_step_post_hook(_count_step)


def weights_key(tensors: list[Tensor]) -> tuple[object, ...]:
    """A key that changes whenever any of ``tensors`` may have changed: their storages and version counters, and
    the number of optimizer steps taken in this process."""
    return (_optimizer_steps, *((t.data_ptr(), t._version) for t in tensors))


class InferenceCache(nn.Module):
    """Drops the attributes named in ``_caches`` on every ``.train()`` / ``.eval()`` and leaves them out of
    copies and pickles (``copy.deepcopy``, ``torch.save``); they are not in the ``state_dict`` either. Each
    subclass keys its cache with :func:`weights_key` over the tensors it derives from."""

    _caches: tuple[str, ...] = ()

    def caching(self) -> bool:
        """Whether a call may read and fill the caches now: inference (eval mode, gradients off), not while
        exporting, tracing or compiling (a graph must not capture a cached tensor as a constant)."""
        return (
            not self.training
            and not torch.is_grad_enabled()
            and not torch.compiler.is_compiling()
            and not is_exporting()
        )

    def train(self, mode: bool = True) -> InferenceCache:
        for name in self._caches:
            setattr(self, name, None)
        return super().train(mode)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, **dict.fromkeys(self._caches)}
