"""The official evaluation protocol (docs/paper.md §5.5): greedy completions and grammar metrics.

Greedy decoding appends ``max_pred_length`` tokens to every prompt and never
stops early (the official loop's ``if torch.all(finished) is True`` is always
False); ties go to the lowest token id (``torch.max``). A sequence is
*finished* when its completion contains EOS and no a/b after the first EOS.
Metrics are over the whole sequence (prompt + completion), as in ``GrammarMetrics``:

* ``r1``: ``#a == #b`` over all tokens; ``r2``: no a after a b; ``r2_completion``:
  R2 on the completion only; ``grammatical``: R1 ∧ R2.

Each is reported three ways (:func:`grammar_metrics`): over all prompts
(``Val/OOD/<metric>``), over finished outputs only (``Val/OOD/finished/<metric>``,
the paper's headline number, 0 if nothing finished, as logged), and as
finished-and-satisfied over **all** prompts (unfinished outputs count as
failures).
"""

from __future__ import annotations

from typing import cast

import numpy as np
import torch
from numpy.typing import NDArray

from exact.core.predictor import Predictor
from exact.core.tokens import EOS, A, B, TokenBatch
from exact.core.validate import InputError, require_type
from learned.nn.decode import greedy_decode, supports
from learned.nn.model import KVCache, Transformer

__all__ = ["METRICS", "finished", "grammar_metrics", "greedy_complete", "greedy_complete_predictor"]

METRICS = ("r1", "r2", "r2_completion", "grammatical", "finished")


@torch.no_grad()
def greedy_complete(
    model: Transformer,
    prompts: NDArray[np.int64],
    max_new: int,
    *,
    device: torch.device | str = "cpu",
    chunk: int = 1024,
    engine: str = "auto",
) -> NDArray[np.int64]:
    """Greedy continuations: int64 array ``(n_models, n_prompts, max_new)``.

    ``engine="torch"`` decodes with the model itself, one batched call per new token through
    a KV cache; ``"numba"`` with the compiled decoder :func:`learned.nn.decode.greedy_decode`
    (the same function to float rounding, about 5× faster on the CPU); ``"auto"`` takes numba
    where it applies (:func:`learned.nn.decode.supports`: a float32 CPU model, no hooks; the
    prompts stay on the CPU, ``device`` plays no part) and torch elsewhere (a GPU model, hooks).
    """
    require_type(isinstance(engine, str), "engine", engine, "a string")
    if engine not in ("auto", "torch", "numba"):
        raise InputError(f"engine must be 'auto', 'torch' or 'numba', got {engine!r}")
    if max_new < 1:
        raise InputError(f"max_new must be ≥ 1, got {max_new}")
    if engine == "numba" or (engine == "auto" and torch.device(device).type == "cpu" and supports(model)):
        return cast(NDArray[np.int64], greedy_decode(model, prompts, max_new, chunk=chunk))
    if model.cfg.positions == "batch-row":  # the official quirk: rows index the position table
        chunk = min(chunk, model.cfg.max_len)
    out = []
    for lo in range(0, prompts.shape[0], chunk):
        x = torch.tensor(prompts[lo : lo + chunk], device=device)  # a copy: inputs may be read-only
        cache = KVCache(capacity=x.shape[1] + max_new)
        logits = model(x, cache=cache)[:, :, -1]  # (S, B, V)
        steps = []
        for t in range(max_new):
            nxt = torch.argmax(logits, dim=-1)  # first maximum: ties go to the lowest id
            steps.append(nxt)
            if t + 1 < max_new:
                logits = model(nxt.unsqueeze(-1), cache=cache)[:, :, -1]
        out.append(torch.stack(steps, dim=-1).cpu().numpy())
    return np.concatenate(out, axis=1).astype(np.int64)


def greedy_complete_predictor(predictor: Predictor, prompts: NDArray[np.int64], max_new: int) -> NDArray[np.int64]:
    """Greedy continuations of any :class:`~exact.Predictor` (no cache): int64 ``(n_prompts, max_new)``.

    One ``next_token_probs`` call per new token on the whole growing batch; ties go
    to the lowest token id, as ``torch.max`` in the official code.
    """
    if max_new < 1:
        raise InputError(f"max_new must be ≥ 1, got {max_new}")
    n, k = prompts.shape
    tokens = np.zeros((n, k + max_new), dtype=np.int64)
    tokens[:, :k] = prompts
    for t in range(k, k + max_new):
        probs = predictor.next_token_probs(TokenBatch(tokens[:, :t], np.full(n, t), predictor.vocab_size))
        tokens[:, t] = np.argmax(probs.require_defined(), axis=1)  # first maximum
    return tokens[:, k:]


def _rules(seq: NDArray[np.int64]) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    is_a, is_b = seq == A, seq == B
    r1 = is_a.sum(-1) == is_b.sum(-1)
    b_before = np.cumsum(is_b, axis=-1) - is_b
    r2 = ~np.any(is_a & (b_before > 0), axis=-1)
    return r1, r2


def finished(completion: NDArray[np.int64]) -> NDArray[np.bool_]:
    """EOS present and no a/b after the first EOS (``check_sequence_finished``)."""
    is_eos = completion == EOS
    after = np.cumsum(is_eos, axis=-1) > 0
    return is_eos.any(-1) & ~np.any(after & ((completion == A) | (completion == B)), axis=-1)


def grammar_metrics(prompts: NDArray[np.int64], completions: NDArray[np.int64]) -> dict[str, dict[str, float]]:
    """Official grammar metrics of one model.

    Parameters
    ----------
    prompts : int64 (n, k + 1)
    completions : int64 (n, max_new)

    Returns
    -------
    ``{"all": {...}, "finished": {...}, "finished_over_all": {...}}`` with the
    fractions of :data:`METRICS` and ``"n"``/``"n_finished"`` counts.
    """
    if prompts.shape[0] != completions.shape[0] or prompts.shape[0] == 0:
        raise InputError(f"need one completion per prompt, got {prompts.shape[0]} prompts and {completions.shape[0]}")
    whole = np.concatenate([prompts, completions], axis=1)
    r1, r2 = _rules(whole)
    _, r2c = _rules(completions)
    fin = finished(completions)
    flags = {"r1": r1, "r2": r2, "r2_completion": r2c, "grammatical": r1 & r2, "finished": fin}
    n, nf = fin.size, int(fin.sum())
    return {
        "all": {k: float(v.mean()) for k, v in flags.items()} | {"n": n},
        "finished": {k: (float(v[fin].mean()) if nf else 0.0) for k, v in flags.items()} | {"n": nf},
        "finished_over_all": {k: float((v & fin).sum() / n) for k, v in flags.items()} | {"n": n},
    }
