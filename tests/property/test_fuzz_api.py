"""Fuzzing the public Python API: any argument gives a valid result or a ValueError/TypeError naming it, quickly.

For every generated call (:func:`_call`): a result that passes the call's checks (no NaN where a
probability is returned, exact answers consistent with the float engine, nothing silently wrong
such as a PAD for the id −1), or a ``ValueError``/``TypeError`` whose message names the parameter
— never ``IndexError``/``KeyError``/``AttributeError``/``OverflowError``/``MemoryError``, a numba
error or a warning (warnings are errors in this suite) — within :data:`tests.strategies.FUZZ_DEADLINE` (a Hypothesis
deadline, after a warm-up fixture). Where the valid inputs are easy to state, the test also
requires that a valid input is *accepted* and an invalid one refused.

Arguments mix small valid values, boundaries, huge values (which the limits must refuse quickly),
wrong types and garbage (:mod:`tests.strategies`). Plain ``ValueError``/``TypeError`` (not the
package's :class:`~exact.core.validate.InputError`/``InputTypeError``) pass but are recorded as
Hypothesis events (``--hypothesis-show-statistics``).

Budgets: :data:`tests.strategies.FUZZ_MAX_EXAMPLES` per test — 25 (profile ``dev``) or 150 (``HYPOTHESIS_PROFILE=ci``).
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from exact import (
    AnbnDistribution,
    GeometricLength,
    GincConfig,
    GrammarDistribution,
    PromptTemplate,
    TokenBatch,
    UniformLength,
    decode,
    encode,
    enumerate_prompts,
    enumerate_strings,
    generate_ginc,
    icl_accuracy,
    kl_chain_rule,
    language,
    parse_grammar,
    prompt_set_log_prob,
    sample_prompts,
)
from exact.core.tokens import TOKEN_NAMES
from exact.core.validate import InputError, InputTypeError
from tests.strategies import (
    HARD_TIMEOUT,
    PROBABILITY_STRINGS,
    fuzz_settings,
    guarded,
    length_laws,
    memory_guard,
    pcfg_rules,
    wild_ints,
    wild_objects,
)

#: The outcome of a call that was refused with an acceptable error.
REFUSED = object()


class SmallGinc:
    """A small GINC mixture shared by the HMM tests (built once, in the warm-up)."""

    g = None


@pytest.fixture(scope="module", autouse=True)
def api_guards():
    """Compile the kernels once (so the deadline measures the call, not numba), then cap the data size."""
    p = AnbnDistribution(UniformLength(4))
    kl_chain_rule(p, p, 6)
    enumerate_strings(p, 4)
    enumerate_prompts(p, 3)
    SmallGinc.g = generate_ginc(n_concepts=2, n_values=2, n_slots=3, n_symbols=4, emission_smoothing=0.05)
    icl_accuracy(SmallGinc.g, 2, [0, 1, 2], n_prompts=10)
    sample_prompts(SmallGinc.g, PromptTemplate(2, 1), 5, np.random.default_rng(0))
    d = GrammarDistribution(parse_grammar("S -> a S b [1/2] | a b [1/2]"))
    d.strings(6)
    d.entropy(6)
    language("dyck1").distribution.strings(6)
    with memory_guard():
        yield


def _names_one(message: str, names: tuple[str, ...]) -> bool:
    return any(n in message for n in names)


def _call(fn, *names: str):
    """``fn()``'s value, or :data:`REFUSED` for a ValueError/TypeError naming one of ``names``; anything else fails."""
    (kind, value), _ = guarded(fn, timeout_s=HARD_TIMEOUT)
    if kind == "hung":
        pytest.fail(f"no result after {HARD_TIMEOUT} s (a missing limit)")
    if kind == "ok":
        return value
    exc = value
    numba_error = type(exc).__module__.startswith("numba")
    if isinstance(exc, (ValueError, TypeError)) and not numba_error:
        assert _names_one(str(exc), names), f"{type(exc).__name__} names none of {names}: {exc}"
        if not isinstance(exc, (InputError, InputTypeError)):
            event(f"plain {type(exc).__name__} (not InputError/InputTypeError)")
        return REFUSED
    raise exc


def _is_id(t: object, vocab: int = 5) -> bool:
    return isinstance(t, (int, np.integer)) and not isinstance(t, bool) and 0 <= int(t) < vocab


TOKENS = st.one_of(
    st.lists(st.integers(0, 4), max_size=8),
    st.lists(st.one_of(st.integers(-3, 8), wild_ints(0, 4)), max_size=6),
    st.lists(st.integers(0, 4), max_size=6).map(lambda xs: np.array(xs, dtype=np.int64)),
    st.sampled_from([np.array([[0, 1]]), np.array([0.5, 1.0]), np.array([2**40]), np.array([], dtype=float)]),
    wild_objects(),
    st.text(max_size=4),
)


@fuzz_settings
@given(tokens=TOKENS)
def test_decode(tokens):
    out = _call(lambda: decode(tokens), "tokens")
    items = None
    if isinstance(tokens, np.ndarray) and tokens.ndim == 1:
        items = tokens.tolist() if tokens.dtype.kind in "iu" or tokens.size == 0 else None
    elif isinstance(tokens, (list, tuple)):
        items = list(tokens)
    valid = items is not None and all(_is_id(t) for t in items)
    if valid:
        assert out is not REFUSED, f"decode refused the valid ids {tokens!r}"
        assert out == " ".join(TOKEN_NAMES[int(t)] for t in items)
    else:
        assert out is REFUSED, f"decode({tokens!r}) returned {out!r} instead of refusing"


TEXTS = st.one_of(
    st.text(alphabet="ab", max_size=8),
    st.lists(st.sampled_from(["a", "b", "SOS", "EOS", "PAD"]), max_size=5).map(" ".join),
    st.text(alphabet="abSOEPDc x\t", max_size=8),
    st.text(max_size=6),
    wild_objects(),
)


@fuzz_settings
@given(text=TEXTS, sos=st.one_of(st.booleans(), wild_objects()))
def test_encode(text, sos):
    out = _call(lambda: encode(text, sos=sos), "text", "sos")
    if out is REFUSED:
        return
    assert isinstance(text, str), f"encode({text!r}) accepted a {type(text).__name__}"
    assert isinstance(out, np.ndarray) and out.dtype == np.int64 and out.ndim == 1
    assert np.all((out >= 0) & (out < 5))
    assert decode(out) == " ".join(TOKEN_NAMES[t] for t in out.tolist())


PREFIXES = st.one_of(
    st.lists(st.integers(0, 4), max_size=10),
    st.lists(st.integers(0, 4), max_size=8).map(lambda xs: [2, *xs]),
    st.lists(st.one_of(st.integers(-2, 9), wild_ints(0, 4)), max_size=6),
    wild_objects(),
    st.text(max_size=4),
)


@fuzz_settings
@given(law=length_laws(max_n=12), prefix=PREFIXES)
def test_exact_prefix_probabilities(law, prefix):
    p = AnbnDistribution(law)
    got = _call(lambda: p.prefix_prob_exact(prefix), "prefix")
    cond = _call(lambda: p.next_token_probs_exact(prefix), "prefix")
    valid = isinstance(prefix, (list, tuple)) and all(_is_id(t) for t in prefix)
    if not valid:
        assert got is REFUSED, f"prefix_prob_exact({prefix!r}) returned {got!r} instead of refusing"
        assert cond is REFUSED, f"next_token_probs_exact({prefix!r}) returned {cond!r} instead of refusing"
        return
    assert got is not REFUSED and cond is not REFUSED, f"refused the valid prefix {prefix!r}"
    assert isinstance(got, Fraction) and 0 <= got <= 1
    if prefix:
        logp = p.log_prob_prefix(TokenBatch.from_sequences([prefix]))[0]
        assert (got == 0) == (logp == -np.inf)
        if got > 0:
            assert math.isclose(math.log(got), logp, rel_tol=1e-9, abs_tol=1e-9)
    if got == 0:
        assert cond is None
    else:
        assert len(cond) == 5 and sum(cond) == 1 and all(0 <= c <= 1 for c in cond)


@fuzz_settings
@given(batch=st.one_of(wild_objects(), st.just([[2, 0]]), st.just(np.array([[2, 0]]))))
def test_next_token_probs_needs_a_token_batch(batch):
    out = _call(lambda: AnbnDistribution(UniformLength(4)).next_token_probs(batch), "batch", "TokenBatch")
    assert out is REFUSED, f"next_token_probs({batch!r}) returned {out!r}"


def _distributions() -> st.SearchStrategy[object]:
    return st.one_of(length_laws(max_n=10).map(AnbnDistribution), length_laws(max_n=10).map(AnbnDistribution))


@fuzz_settings
@given(
    p=st.one_of(_distributions(), wild_objects()),
    q=st.one_of(_distributions(), wild_objects()),
    T=wild_ints(2, 12),
    same=st.booleans(),
)
def test_kl_chain_rule(p, q, T, same):
    q = p if same else q
    out = _call(lambda: kl_chain_rule(p, q, T), "sequence_length", "p", "q")
    if out is REFUSED:
        return
    assert isinstance(p, AnbnDistribution) and isinstance(q, AnbnDistribution), "accepted a non-predictor"
    assert not math.isnan(out.value) and out.value >= 0
    if q is p:
        assert out.value == 0


@fuzz_settings
@given(
    dist=st.one_of(length_laws(max_n=10).map(AnbnDistribution), wild_objects()),
    n=wild_ints(1, 10),
    which=st.sampled_from(["strings", "prompts"]),
    max_bytes=st.one_of(st.none(), wild_ints(1, 10**9)),
)
def test_enumeration(dist, n, which, max_bytes):
    fn = enumerate_strings if which == "strings" else enumerate_prompts
    kwargs = {} if max_bytes is None else {"max_bytes": max_bytes}
    out = _call(lambda: fn(dist, n, **kwargs), "max_length", "prompt_length", "dist", "max_bytes")
    if out is REFUSED:
        return
    assert isinstance(dist, AnbnDistribution)
    if which == "strings":
        assert out.codes.size == 2 ** (n + 1) - 2
        assert not np.any(np.isnan(out.log_prefix_prob)) and 0 <= out.truncated_mass <= 1
    else:
        assert out.codes.size == 2**n and not np.any(np.isnan(out.log_prob))


RHOS = st.one_of(
    st.sampled_from(PROBABILITY_STRINGS),
    st.floats(allow_nan=True, allow_infinity=True),
    st.fractions(min_value=0, max_value=1, max_denominator=1000),
    wild_objects(),
)


@fuzz_settings
@given(
    kind=st.sampled_from(["uniform", "geometric"]),
    arg=st.one_of(wild_ints(1, 50), RHOS),
    n=wild_ints(0, 60),
    cut=wild_ints(1, 60),
)
def test_length_laws(kind, arg, n, cut):
    law = _call(lambda: UniformLength(arg) if kind == "uniform" else GeometricLength(arg), "n_max", "rho")
    if law is REFUSED:
        return
    for method in (law.pmf_exact, law.sf_exact):
        value = _call(lambda method=method: method(n), "n")
        if value is not REFUSED:
            assert isinstance(value, Fraction) and 0 <= value <= 1, f"{method.__name__}({n!r}) = {value!r}"
    trunc = _call(lambda: law.truncate(cut), "n_max")
    if trunc is not REFUSED:
        assert 0 <= trunc.dropped_mass <= 1 and not math.isnan(trunc.entropy())


GINC_PARAMS = {
    "n_concepts": wild_ints(1, 3),
    "n_values": wild_ints(1, 3),
    "n_slots": wild_ints(2, 4),
    "n_symbols": wild_ints(2, 6),
    "transition_temp": st.one_of(st.sampled_from([0.1, 1.0, 1e-308, 1e308, 5e-324]), wild_ints(1, 2)),
    "start_temp": st.one_of(st.sampled_from([10.0, 1e-308, 1e308, 0.0, -1.0]), wild_objects()),
    "value_identity_coeff": st.one_of(st.floats(-0.5, 1.5), wild_objects()),
    "shared_values": st.one_of(st.booleans(), wild_objects()),
    "emission_smoothing": st.one_of(st.floats(-0.5, 1.5), st.sampled_from([0.0, 0.05, 1.0]), wild_objects()),
    "seed": st.one_of(wild_ints(0, 2**32), st.sampled_from([2**64, 10**30])),
    "bogus": st.just(1),
}


@st.composite
def ginc_kwargs(draw: st.DrawFn) -> dict[str, object]:
    small = {"n_concepts": 2, "n_values": 2, "n_slots": 3, "n_symbols": 4}
    for key in draw(st.lists(st.sampled_from(sorted(GINC_PARAMS)), max_size=3, unique=True)):
        small[key] = draw(GINC_PARAMS[key])
    return small


@fuzz_settings
@given(kwargs=ginc_kwargs(), via_config=st.booleans())
def test_generate_ginc(kwargs, via_config):
    names = tuple(kwargs) + ("config",)
    out = _call(lambda: generate_ginc(GincConfig(**kwargs)) if via_config else generate_ginc(**kwargs), *names)
    if out is REFUSED:
        return
    assert "bogus" not in kwargs
    mix = out.mixture
    for arr in (mix.prior, mix.slot_transmat, mix.value_transmat, mix.emissions):
        assert np.all(np.isfinite(arr)) and np.all(arr >= 0)
    np.testing.assert_allclose(mix.emissions.sum(axis=-1), 1.0, atol=1e-9)


@fuzz_settings
@given(
    k=wild_ints(2, 3),
    n_shots=wild_ints(0, 3),
    delimiter=st.one_of(st.just(0), wild_ints(0, 4)),
    n=wild_ints(1, 20),
    what=st.sampled_from(["sample", "log_prob", "icl"]),
    max_enumeration=wild_ints(1, 2000),
    seed=st.one_of(wild_ints(0, 100), st.just(np.random.SeedSequence(3))),
)
def test_prompts_and_icl_accuracy(k, n_shots, delimiter, n, what, max_enumeration, seed):
    g = SmallGinc.g
    names = ("k", "n_shots", "delimiter", "n_prompts", "shots", "max_enumeration", "seed", "rng")
    if what == "icl":
        shots = [n_shots]
        out = _call(
            lambda: icl_accuracy(
                g, k, shots, delimiter=delimiter, n_prompts=n, seed=seed, max_enumeration=max_enumeration
            ),
            *names,
        )
        if out is not REFUSED:
            for point in out:
                d = point.as_dict()
                assert 0 <= d["accuracy"] <= 1 and not math.isnan(d["log_prob_prompt_set"])
        return
    template = _call(lambda: PromptTemplate(k, n_shots, delimiter), *names)
    if template is REFUSED:
        return
    if what == "sample":
        out = _call(lambda: sample_prompts(g, template, n, np.random.default_rng(0)), *names)
        if out is not REFUSED:
            assert len(out.tokens) == n and np.all((out.tokens.tokens >= 0) & (out.tokens.tokens < 4))
    else:
        out = _call(lambda: prompt_set_log_prob(g, template), *names)
        if out is not REFUSED:
            assert not math.isnan(out) and out <= 1e-12


GRAMMAR_TEXTS = (
    "S -> a S b [1/2] | a b [1/2]",
    "S -> S S [0.9] | a [0.1]",
    "S -> S S [1/2] | a [1/2]",
    "S -> a S [1/2] | ε [1/2]",
    "S -> '(' S ')' S [1/3] | ε [2/3]",
    "S -> a [nan]",
    "S -> a [1e-100000000]",
    "S -> a [1e400]",
    "S -> [1]",
    "S -> S [1]",
    "S -> A [1]",
    "",
    "S -> a [0.5] | b [0.5",
    "S -> a [1]\nS -> b [1]",
)


def _render(rules) -> str:
    return "\n".join(f"{lhs} -> {' '.join(rhs)} [{p}]" for lhs, rhs, p in rules)


@fuzz_settings
@given(
    text=st.one_of(st.sampled_from(GRAMMAR_TEXTS), pcfg_rules().map(_render), st.text(max_size=30), wild_objects()),
    start=st.one_of(st.none(), st.sampled_from(["S", "N1", "X", ""]), wild_objects()),
    renormalise=st.one_of(st.booleans(), wild_objects()),
    max_len=wild_ints(0, 8),
)
def test_grammars(text, start, renormalise, max_len):
    kwargs = {} if start is None else {"start": start}
    g = _call(lambda: parse_grammar(text, **kwargs), "text", "start", "line", "grammar", "rule", "nonterminal")
    if g is REFUSED:
        return
    d = _call(lambda: GrammarDistribution(g, renormalise=renormalise), "renormalise", "grammar", "inconsistent")
    if d is REFUSED:
        return
    s = _call(lambda: d.strings(max_len), "max_len")
    if s is not REFUSED:
        assert not np.any(np.isnan(s.log_probs)) and np.all(s.log_probs <= 1e-12)
        assert 0 <= s.truncated_mass <= 1 + 1e-12
    h = _call(lambda: d.entropy(max_len), "max_len")
    if h is not REFUSED:
        assert not math.isnan(h.lower) and h.lower <= h.upper


LIBRARY_PARAMS = {
    "n_max": st.one_of(st.integers(1, 30), wild_ints(1, 30)),
    "rho": RHOS,
    "p_open": RHOS,
    "K": st.one_of(st.integers(1, 5), wild_ints(1, 5)),
    "M": st.one_of(st.integers(4, 30), wild_ints(4, 30)),
    "p_b": RHOS,
    "p_stop": RHOS,
    "p_a": RHOS,
    "bogus": st.just(1),
}


@fuzz_settings
@given(
    name=st.one_of(
        st.sampled_from(["anbn", "anbncn", "dyck1", "dyck2", "not_nested", "ban", "bban", "anbm"]), wild_objects()
    ),
    law=st.one_of(st.none(), st.sampled_from(["uniform", "geometric", "pcfg", "official", "x"]), wild_objects()),
    params=st.dictionaries(st.sampled_from(sorted(LIBRARY_PARAMS)), st.just(None), max_size=2),
    k=wild_ints(1, 6),
    data=st.data(),
)
def test_library_languages(name, law, params, k, data):
    params = {key: data.draw(LIBRARY_PARAMS[key], label=key) for key in params}
    lang = _call(lambda: language(name, law, **params), "language", "name", "law", *params)
    if lang is REFUSED:
        return
    prompts = _call(lambda: lang.prompts(k), "prompt_length")
    if prompts is not REFUSED:
        assert all(isinstance(b, TokenBatch) for b in prompts.values())
    s = _call(lambda: lang.distribution.strings(6), "max_len")
    if s is not REFUSED:
        assert not np.any(np.isnan(s.log_probs)) and 0 <= s.truncated_mass <= 1 + 1e-12
