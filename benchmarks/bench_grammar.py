"""Benchmark: next-token conditionals of the general PCFG engine against genlm-grammar and the aⁿbⁿ kernel.

Run: ``.venv/bin/python benchmarks/bench_grammar.py [--words 300] [--max-len 20] [--seed 7] [--quick]``

(a) **ours vs genlm-grammar** (``EarleyLM.p_next``, an independent semiring Earley parser, the test
oracle of ``tests/integration/test_grammar_oracles.py``): the next-token distribution (every
terminal and EOS) after *every prefix of every word* of a sample. All words up to length 20 would
be about 10⁷ Dyck-2 words, so the sample is ``--words`` words drawn from the grammar
itself with a fixed seed (``numpy.random.default_rng``), conditioned on ``1 ≤ |w| ≤ --max-len``
(the empty word, half the mass of Dyck-2, is left out; its one prefix is the root). Grammars:

* Dyck-2 ``S → ( S ) S [0.3] | [ S ] S [0.2] | ε [0.5]`` — *critical* (spectral radius 1), where
  genlm's fixed-point partition function stops about 1e-4 short (the printed max |Δ| shows it);
* the subcritical Dyck-2 ``0.2 / 0.1 / 0.7``, where both are exact to rounding;
* a random 30-rule PCFG (6 nonterminals × 5 rules over 4 terminals; binary, ternary, unary
  (cycles allowed), terminal and ε rules; subcritical), generated from ``--grammar-seed``.

Ours: one :meth:`GrammarDistribution.conditionals_along` call on a ``TokenBatch`` of terminal ids
(after a warm-up call that compiles numba), best of ``--repeats`` (20: one call takes about a
millisecond, and with numba's threads on a shared machine a single busy core delays it several-fold). genlm: ``p_next`` on every prefix
of every word with a fresh ``EarleyLM`` per run (its chart cache works within a run, as in normal
incremental use, and does not carry over), best of ``--genlm-repeats``. Building each model is
timed separately and not in the per-prefix figures. Target: ours ≥ 100× faster per prefix.
Untimed cross-checks: the max |Δ| of the conditionals, our string probabilities against genlm's
string weights ``cfg(w)`` (CKY, which needs no prefix grammar; relative 1e-8 or the run fails) and
genlm's ``prefix_weight(())``, which must be 1 for a consistent grammar — where it is not, genlm's
conditionals are wrong (as on the random grammar of the default seed: see
``test_genlm_prefix_weights_are_wrong_on_some_epsilon_grammars``).

(b) **the price of generality**: the general engine on ``S → a S b [0.7] | a b [0.3]`` against
the closed-form aⁿbⁿ kernel (:class:`exact.anbn.AnbnDistribution` with the geometric law ρ = 0.7),
``next_token_probs`` on the same ``TokenBatch`` of every support prefix up to ``--anbn-length``
tokens, best of 5; they must agree to 1e-12. Target: the general engine within 10× of the kernel.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any

import numpy as np

from exact.anbn import AnbnDistribution, GeometricLength
from exact.core.tokens import TokenBatch
from exact.grammar import PCFG, GrammarDistribution, analyse, parse_grammar

Rule = tuple[str, tuple[str, ...], Fraction]
ANBN_TOL = 1e-12
#: ours vs genlm's string weights (genlm's ε weights come from a fixed point at tolerance 1e-12).
STRING_RTOL = 1e-8


def best_of(fn: Callable[[], Any], repeats: int) -> tuple[Any, float]:
    out, best = None, float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return out, best


# -- grammars -----------------------------------------------------------------------------------


def dyck2(p_round: str, p_square: str, p_eps: str) -> list[Rule]:
    return [
        ("S", ("(", "S", ")", "S"), Fraction(p_round)),
        ("S", ("[", "S", "]", "S"), Fraction(p_square)),
        ("S", (), Fraction(p_eps)),
    ]


def random_pcfg(seed: int, n_nonterminals: int = 6, n_rules: int = 5, terminals: Sequence[str] = "abcd") -> list[Rule]:
    """A subcritical random PCFG with ``n_nonterminals × n_rules`` rules, deterministic in ``seed``.

    Each nonterminal gets a terminal rule of larger weight (productive, and it keeps every nonterminal able to
    derive a letter), a rule through the next nonterminal (reachability; the last one loops back to
    ``S``) and ``n_rules − 2`` rules of random kinds: binary, ternary, unary (any nonterminal,
    itself included), terminal or ε. Redrawn until the spectral radius lies in [0.7, 0.9): subcritical,
    yet with words long enough to be a workload.
    """
    rng = np.random.default_rng(seed)
    names = ["S", *(f"N{i}" for i in range(1, n_nonterminals))]
    symbols = [*terminals, *names]
    kinds = ["binary", "ternary", "unary", "terminal", "eps"]
    for _ in range(1000):
        weighted: list[tuple[str, tuple[str, ...], int]] = []
        for i, x in enumerate(names):
            weighted.append((x, (str(rng.choice(list(terminals))),), int(rng.integers(3, 9))))
            nxt = names[(i + 1) % len(names)]
            weighted.append((x, (str(rng.choice(list(terminals))), nxt), int(rng.integers(1, 6))))
            for _ in range(n_rules - 2):
                kind = kinds[int(rng.integers(len(kinds)))]
                if kind == "eps":
                    rhs: tuple[str, ...] = ()
                elif kind == "terminal":
                    rhs = (str(rng.choice(list(terminals))),)
                elif kind == "unary":
                    rhs = (str(rng.choice(names)),)
                else:
                    rhs = tuple(str(s) for s in rng.choice(symbols, size=2 if kind == "binary" else 3))
                weighted.append((x, rhs, int(rng.integers(1, 6))))
        totals = {x: sum(w for lhs, _, w in weighted if lhs == x) for x in names}
        rules = [(lhs, rhs, Fraction(w, totals[lhs])) for lhs, rhs, w in weighted]
        if 0.7 <= analyse(PCFG(rules, terminals=tuple(terminals))).spectral_radius < 0.9:
            return rules
    raise SystemExit(f"no subcritical random grammar from seed {seed}")


def our_text(rules: Sequence[Rule], terminals: Sequence[str]) -> str:
    def sym(s: str) -> str:
        return f"'{s}'" if s in terminals else s

    return "\n".join(f"{lhs} -> {' '.join(map(sym, rhs)) if rhs else 'ε'} [{p}]" for lhs, rhs, p in rules)


def genlm_cfg(rules: Sequence[Rule], terminals: Sequence[str]):  # type: ignore[no-untyped-def]
    from genlm.grammar import CFG, Float

    text = "\n".join(f"{float(p)!r}: {lhs} -> {' '.join(rhs)}" for lhs, rhs, p in rules)
    term = set(terminals)
    return CFG.from_string(text, Float, start=rules[0][0], is_terminal=lambda s: s in term)


# -- (a) ours vs genlm ----------------------------------------------------------------------------


def versus_genlm(
    name: str, rules: Sequence[Rule], terminals: Sequence[str], args: argparse.Namespace
) -> dict[str, Any]:
    from genlm.grammar import EOS, EarleyLM

    grammar, t_parse = best_of(lambda: parse_grammar(our_text(rules, terminals), terminals=terminals), 1)
    d, t_build = best_of(lambda: GrammarDistribution(grammar), 1)
    rng = np.random.default_rng(args.seed)
    words = d.sample_words(args.words, rng, min_len=1, max_len=args.max_len)
    lengths = np.array([len(w) for w in words])
    n_prefixes = int(np.sum(lengths + 1))
    distinct = len({w[:t] for w in words for t in range(len(w) + 1)})
    ids = {t: i for i, t in enumerate(d.vocabulary.terminals)}
    tokens = np.zeros((len(words), args.max_len), dtype=np.int64)
    for i, w in enumerate(words):
        tokens[i, : len(w)] = [ids[t] for t in w]
    batch = TokenBatch(tokens, lengths, vocab_size=d.vocabulary.size)
    d.conditionals_along(batch.select(np.arange(min(2, len(words)))))  # compile
    (probs, defined), t_ours = best_of(lambda: d.conditionals_along(batch), args.repeats)
    assert all(defined[i, : len(w) + 1].all() for i, w in enumerate(words))

    cfg = genlm_cfg(rules, terminals)
    order = list(d.vocabulary.terminals)

    def genlm_run() -> tuple[list[Any], float]:
        start = time.perf_counter()
        lm = EarleyLM(cfg)
        built = time.perf_counter() - start
        return [lm.p_next(w[:t]) for w in words for t in range(len(w) + 1)], built

    t_genlm, t_genlm_build, dists = float("inf"), float("inf"), []
    for _ in range(args.genlm_repeats):
        start = time.perf_counter()
        dists, built = genlm_run()
        t_genlm = min(t_genlm, time.perf_counter() - start - built)
        t_genlm_build = min(t_genlm_build, built)
    theirs = np.array([[float(q[y]) for y in order] + [float(q[EOS])] for q in dists])
    ours = np.concatenate([probs[i, : len(w) + 1] for i, w in enumerate(words)])
    diff = float(np.max(np.abs(ours - theirs)))
    rho = analyse(grammar).spectral_radius
    # untimed cross-checks: genlm's string weights (CKY, no prefix grammar) and its P(Σ*)
    distinct_words = sorted(set(words))
    their_strings = np.array([float(cfg(w)) for w in distinct_words])
    our_strings = np.exp(d.log_prob([list(w) for w in distinct_words]))
    string_rel = float(np.max(np.abs(our_strings - their_strings) / their_strings))
    their_total = float(cfg.prefix_weight(()))
    print(
        f"\n{name}: {len(grammar.productions)} rules, {len(grammar.nonterminals)} nonterminals, "
        f"{len(terminals)} terminals, spectral radius {rho:.6f}"
    )
    print(
        f"  {len(words)} words drawn from the grammar (seed {args.seed}), 1 ≤ |w| ≤ {args.max_len}: mean length "
        f"{lengths.mean():.2f}, longest {lengths.max()}; {n_prefixes:,} prefixes ({distinct:,} distinct)"
    )
    print(
        f"  build: ours {t_parse + t_build:8.4f} s (parse + GrammarDistribution)   genlm {t_genlm_build:8.4f} s (EarleyLM)"
    )
    per_ours, per_genlm = t_ours / n_prefixes, t_genlm / n_prefixes
    print(
        f"  ours  one conditionals_along call {t_ours:9.5f} s   {per_ours * 1e6:9.3f} µs/prefix  (best of {args.repeats})"
    )
    print(
        f"  genlm p_next on every prefix       {t_genlm:9.5f} s   {per_genlm * 1e6:9.3f} µs/prefix  "
        f"(best of {args.genlm_repeats}, fresh EarleyLM each)"
    )
    print(f"  ratio genlm/ours {per_genlm / per_ours:9.0f}×   max |Δ p(y | prefix)| = {diff:.2e}")
    print(
        f"  cross-checks: max relative |Δ P(w)| vs genlm's string weights = {string_rel:.1e} "
        f"({len(distinct_words)} distinct words); genlm's P(Σ*) = prefix_weight(()) = {their_total:.12f}"
    )
    if diff > 1e-8:
        why = (
            "critical grammar: genlm's fixed-point partition function stops short"
            if rho > 1 - 1e-9
            else f"genlm's prefix weights lose mass (P(Σ*) = {their_total:.6f}, not 1, for a consistent grammar)"
            if abs(their_total - 1) > 1e-8
            else "unexplained"
        )
        print(f"  the conditionals differ by {diff:.1e}: {why}; the string weights agree")
    if string_rel > STRING_RTOL:
        raise SystemExit(f"ours and genlm's string weights disagree beyond {STRING_RTOL:g}")
    return {
        "workload": name,
        "prefixes": n_prefixes,
        "ours_us": per_ours * 1e6,
        "genlm_us": per_genlm * 1e6,
        "ratio": per_genlm / per_ours,
        "diff": diff,
        "string_rel": string_rel,
        "rho": rho,
    }


# -- (b) the price of generality ------------------------------------------------------------------


def versus_anbn(args: argparse.Namespace) -> dict[str, Any]:
    kernel = AnbnDistribution(GeometricLength(Fraction(7, 10)))
    general = GrammarDistribution(parse_grammar("S -> a S b [0.7] | a b [0.3]"))
    assert general.vocabulary.terminals == ("a", "b") and general.vocabulary.size == kernel.vocab_size
    batch, _ = kernel.support_prefixes(args.anbn_length)
    kernel.next_token_probs(batch.select(np.arange(2)))  # compile
    general.next_token_probs(batch.select(np.arange(2)))
    k_out, t_kernel = best_of(lambda: kernel.next_token_probs(batch), 5)
    g_out, t_general = best_of(lambda: general.next_token_probs(batch), 5)
    if not np.array_equal(k_out.defined, g_out.defined):
        raise SystemExit("aⁿbⁿ kernel and general engine disagree on which prefixes are defined")
    diff = float(np.max(np.abs(k_out.probs[k_out.defined] - g_out.probs[g_out.defined])))
    print(
        f"\naⁿbⁿ, geometric ρ = 0.7 vs S -> a S b [0.7] | a b [0.3]: {len(batch):,} support prefixes of "
        f"≤ {args.anbn_length} tokens (best of 5)"
    )
    print(f"  aⁿbⁿ closed-form kernel  {t_kernel:9.5f} s   {t_kernel / len(batch) * 1e6:9.3f} µs/prefix")
    print(f"  general PCFG engine      {t_general:9.5f} s   {t_general / len(batch) * 1e6:9.3f} µs/prefix")
    print(f"  price of generality {t_general / t_kernel:6.1f}×   max |Δ p| = {diff:.2e}  (tolerance {ANBN_TOL:g})")
    if diff > ANBN_TOL:
        raise SystemExit("aⁿbⁿ kernel and general engine disagree beyond the tolerance")
    return {
        "prefixes": len(batch),
        "kernel_us": t_kernel / len(batch) * 1e6,
        "general_us": t_general / len(batch) * 1e6,
        "ratio": t_general / t_kernel,
        "diff": diff,
    }


def machine() -> str:
    import numba

    try:
        from importlib.metadata import version

        genlm = version("genlm-grammar")
    except Exception:  # pragma: no cover - genlm is a test extra
        genlm = "?"
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} CPUs; Python {platform.python_version()}, numpy {np.__version__}, "
        f"numba {numba.__version__} ({numba.get_num_threads()} threads), genlm-grammar {genlm}; "
        f"load average {os.getloadavg()[0]:.2f} (ours runs numba threads: a busy core slows it several-fold)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--words", type=int, default=300, help="words sampled per grammar")
    ap.add_argument("--max-len", type=int, default=20, help="longest sampled word")
    ap.add_argument("--seed", type=int, default=7, help="seed of the word samples")
    ap.add_argument("--grammar-seed", type=int, default=30, help="seed of the random 30-rule PCFG")
    ap.add_argument("--repeats", type=int, default=20, help="timed runs of ours (best kept; each is ~1 ms)")
    ap.add_argument("--threads", type=int, default=None, help="numba threads (default: numba's)")
    ap.add_argument("--genlm-repeats", type=int, default=3, help="timed runs of genlm (best kept)")
    ap.add_argument("--anbn-length", type=int, default=60, help="longest aⁿbⁿ support prefix, in tokens")
    ap.add_argument("--quick", action="store_true", help="60 words, one genlm run, aⁿbⁿ prefixes up to 30 tokens")
    args = ap.parse_args()
    if args.quick:
        args.words, args.genlm_repeats, args.anbn_length = 60, 1, 30
    if args.threads is not None:
        import numba

        numba.set_num_threads(args.threads)
    print(machine())
    import genlm.grammar  # noqa: F401  (imported once here, ~2 s, outside every timing)

    brackets = ("(", ")", "[", "]")
    rows = [
        versus_genlm("Dyck-2 critical 0.3/0.2/0.5", dyck2("0.3", "0.2", "0.5"), brackets, args),
        versus_genlm("Dyck-2 subcritical 0.2/0.1/0.7", dyck2("0.2", "0.1", "0.7"), brackets, args),
        versus_genlm(
            f"random 30-rule PCFG (seed {args.grammar_seed})", random_pcfg(args.grammar_seed), tuple("abcd"), args
        ),
    ]
    anbn = versus_anbn(args)

    print("\nsummary (paste into a README table)")
    print(
        "| workload | prefixes | ours µs/prefix | genlm µs/prefix | genlm/ours "
        "| max abs diff, conditionals | max rel diff, P(w) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['workload']} (ρ = {r['rho']:.3g}) | {r['prefixes']:,} | {r['ours_us']:.2f} | {r['genlm_us']:.1f} | "
            f"{r['ratio']:.0f}× | {r['diff']:.1e} | {r['string_rel']:.1e} |"
        )
    print()
    print("| aⁿbⁿ, ρ = 0.7 | prefixes | kernel µs/prefix | general µs/prefix | general/kernel | max abs diff |")
    print("|---|---:|---:|---:|---:|---:|")
    print(
        f"| support prefixes ≤ {args.anbn_length} tokens | {anbn['prefixes']:,} | {anbn['kernel_us']:.3f} | "
        f"{anbn['general_us']:.3f} | {anbn['ratio']:.1f}× | {anbn['diff']:.1e} |"
    )
    slow = [r["workload"] for r in rows if r["ratio"] < 100]
    print(f"\ntarget ours ≥ 100× genlm per prefix: {'met' if not slow else 'NOT met for ' + ', '.join(slow)}")
    print(f"target general ≤ 10× the aⁿbⁿ kernel: {'met' if anbn['ratio'] <= 10 else 'NOT met'} ({anbn['ratio']:.1f}×)")


if __name__ == "__main__":
    main()
