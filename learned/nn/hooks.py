"""Named hook points for model surgery (docs/design.md, after TransformerLens).

Every interesting activation of :class:`learned.nn.model.Transformer` passes through
an identity :class:`HookPoint`; :meth:`HookedModule.hooks` attaches functions
``fn(activation, *, hook) -> activation | None`` for the duration of a ``with``
block and always removes them, even on error. A function returning ``None``
only observes (e.g. caching); returning a tensor replaces the activation.

>>> import torch
>>> hp = HookPoint()
>>> hp.name = "demo"
>>> seen = []
>>> hp.add(lambda x, *, hook: seen.append(hook.name))
>>> _ = hp(torch.zeros(2))
>>> hp.clear(); seen
['demo']
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from torch import Tensor, nn

from exact.core.validate import InputError

__all__ = ["HookFn", "HookPoint", "HookedModule"]

HookFn = Callable[..., "Tensor | None"]


class HookPoint(nn.Module):
    """Identity module that applies the attached hook functions in order."""

    def __init__(self) -> None:
        super().__init__()
        self.name = ""
        self._fns: list[HookFn] = []

    def add(self, fn: HookFn) -> None:
        self._fns.append(fn)

    def remove(self, fn: HookFn) -> None:
        self._fns.remove(fn)

    def clear(self) -> None:
        self._fns.clear()

    @property
    def active(self) -> int:
        """Number of attached functions."""
        return len(self._fns)

    def forward(self, x: Tensor) -> Tensor:
        for fn in self._fns:
            out = fn(x, hook=self)
            if out is not None:
                if not isinstance(out, Tensor) or out.shape != x.shape:
                    raise InputError(f"hook on {self.name!r} must return None or a tensor of shape {tuple(x.shape)}")
                x = out
        return x


class HookedModule(nn.Module):
    """Root module: names its hook points (:meth:`setup`) and attaches hooks by name."""

    def setup(self) -> None:
        """Give every :class:`HookPoint` its dotted module name."""
        self.hook_dict: dict[str, HookPoint] = {}
        for name, module in self.named_modules():
            if isinstance(module, HookPoint):
                module.name = name
                self.hook_dict[name] = module

    @contextmanager
    def hooks(self, fwd_hooks: Sequence[tuple[str | Callable[[str], bool], HookFn]]) -> Iterator[None]:
        """Attach ``(name or name-filter, fn)`` pairs inside the block; always detached after."""
        touched: list[tuple[HookPoint, HookFn]] = []
        try:
            for key, fn in fwd_hooks:
                names = [key] if isinstance(key, str) else [n for n in self.hook_dict if key(n)]
                for name in names:
                    if name not in self.hook_dict:
                        raise InputError(f"no hook point named {name!r} (see model.hook_dict)")
                    self.hook_dict[name].add(fn)
                    touched.append((self.hook_dict[name], fn))
            yield
        finally:
            for hp, fn in touched:  # only ours: hooks of an enclosing block stay attached
                hp.remove(fn)

    def run_with_cache(
        self, *args: object, names: Callable[[str], bool] = lambda n: True, **kwargs: object
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Forward pass plus a detached copy of every activation whose name passes ``names``."""
        cache: dict[str, Tensor] = {}

        def keep(x: Tensor, *, hook: HookPoint) -> None:
            cache[hook.name] = x.detach().clone()

        with self.hooks([(names, keep)]):
            out = self(*args, **kwargs)
        return out, cache
