"""Case study 3: parameter non-identifiability — the same function, different fine-tuning.

:mod:`~.transforms` (function-preserving reparametrisations: width and depth growth,
ReLU rescaling, permutations), :mod:`~.equality` (their proof on every sequence),
:mod:`~.finetune` and :mod:`~.probe` (fine-tuning and linear probes scored against the
exact ground truth), :mod:`~.reproduce` (``nonident reproduce finetunability``).
See docs/finetunability.md.
"""
