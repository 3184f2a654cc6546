"""Named random streams derived from one seed: the only way randomness enters the toolkit.

A run has one integer ``seed``. Every consumer of randomness draws from its own
*named stream* — ``SeedSequence([seed, key])`` where ``key`` is the name's entry
in :data:`STREAMS` — so streams never overlap, adding a stream never shifts
another, and the names (not arithmetic offsets) are what a run records in its
provenance (:func:`stream_names`). Library functions take an explicit ``seed``
(``int`` or :class:`numpy.random.SeedSequence`) or ``rng``; nothing seeds global state.

>>> a = generator(1111, "prompts").integers(1 << 30)
>>> b = generator(1111, "prompts").integers(1 << 30)
>>> bool(a == b), bool(a == generator(1111, "assumptions").integers(1 << 30))
(True, False)
"""

from __future__ import annotations

import numpy as np

from exact.core.validate import InputError, InputTypeError, check_int

__all__ = ["STREAMS", "SeedLike", "as_seed_sequence", "generator", "stream", "stream_names", "torch_seed"]

#: Every named stream and its key. Keys are fixed forever (changing one changes results);
#: a new stream takes a new key. Model initialisation uses the run seed itself ("init").
STREAMS: dict[str, int] = {
    "dropout": 1,  # learned: dropout masks, one torch generator per model
    "data": 2,  # learned: sentences sampled from the PCFG length law
    "shuffle": 3,  # learned: per-step reshuffle of the training set (batch-row positions)
    "prompts": 4,  # exact.hmm / exact.icl: sampled in-context prompts
    "assumptions": 5,  # exact.hmm: KL-rate estimates of the assumption checks
    "permute": 6,  # learned.finetunability: the head and unit permutations of the control
    "probe": 7,  # learned.finetunability: the train/test split of the linear probe
    "icl-data": 8,  # learned.icl: the training documents (one child per step, so resuming redraws nothing)
    "icl-heldout": 9,  # learned.icl: the held-out documents of the exact evaluation
}

SeedLike = int | np.integer | np.random.SeedSequence


def stream(seed: int, name: str) -> np.random.SeedSequence:
    """The :class:`~numpy.random.SeedSequence` of stream ``name`` under the run seed ``seed``."""
    root = check_int(seed, "seed", minimum=0)
    return np.random.SeedSequence([root, _key(name)])


def _key(name: str) -> int:
    """The key of stream ``name``, or an error naming the known streams."""
    if not isinstance(name, str):
        raise InputTypeError(f"stream name must be a str, got {type(name).__name__}")
    if name not in STREAMS:
        raise InputError(f"unknown random stream {name!r}; known: {', '.join(STREAMS)}")
    return STREAMS[name]


def generator(seed: int, name: str) -> np.random.Generator:
    """A NumPy generator on stream ``name`` of ``seed``."""
    return np.random.default_rng(stream(seed, name))


def torch_seed(seed: int, name: str) -> int:
    """A 63-bit integer for ``torch.Generator.manual_seed`` on stream ``name`` of ``seed``."""
    return int(stream(seed, name).generate_state(1, dtype=np.uint64)[0] >> 1)


def as_seed_sequence(seed: SeedLike, name: str = "seed") -> np.random.SeedSequence:
    """``seed`` as a SeedSequence: an int ≥ 0 becomes ``SeedSequence(seed)``; a SeedSequence passes through."""
    if isinstance(seed, np.random.SeedSequence):
        return seed
    return np.random.SeedSequence(check_int(seed, name, minimum=0))


def stream_names(*names: str) -> dict[str, list[int]]:
    """``{name: [key]}`` for the provenance of a run (validates the names)."""
    return {n: [_key(n)] for n in names}
