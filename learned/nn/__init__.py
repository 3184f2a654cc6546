"""The network every experiment trains: a seed-batched decoder-only transformer.

:mod:`~learned.nn.config` (``ModelConfig``), :mod:`~learned.nn.model` (``Transformer``,
one model per seed stacked on a leading axis, KV-cache decoding),
:mod:`~learned.nn.hooks` (named hook points for surgery), :mod:`~learned.nn.predictor`
(``TransformerPredictor``: a trained model as an :class:`exact.Predictor`) and
:mod:`~learned.nn.device`; :mod:`~learned.nn.decode` (``greedy_decode``: compiled greedy decoding
on the CPU). Names are imported lazily (torch loads on first use).
"""

from exact.core.lazy import lazy_exports

_EXPORTS = {
    "ModelConfig": "learned.nn.config",
    "HookPoint": "learned.nn.hooks",
    "HookedModule": "learned.nn.hooks",
    "KVCache": "learned.nn.model",
    "Transformer": "learned.nn.model",
    "TransformerPredictor": "learned.nn.predictor",
    "resolve_device": "learned.nn.device",
    "greedy_decode": "learned.nn.decode",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
