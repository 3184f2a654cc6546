"""The grammar library: rule predicates on hand-listed words, the official laws in closed form,
prompt classes, the witnesses on every language, and the general completion engine."""

from __future__ import annotations

import itertools
import json
import math
from fractions import Fraction

import numpy as np
import pytest

from exact.core.completions import Rule, completion_probabilities
from exact.core.kl import kl_chain_rule
from exact.core.validate import InputError
from exact.core.witnesses import PolicyModel
from exact.grammar import rules as r
from exact.grammar.base import words_to_array
from exact.grammar.library import LANGUAGES, language
from exact.grammar.walks import dyck1_walk, dyck2_walk, not_nested_walk
from exact.grammar.witnesses import rule_witnesses

IDS = {"a": 0, "b": 1, "c": 2, "(": 0, ")": 1, "[": 2, "]": 3}


def holds(pred, *words: str) -> list[bool]:
    w, n = words_to_array([[IDS[c] for c in word] for word in words])
    return pred(w, n).tolist()


def test_rule_predicates_on_hand_listed_words():
    assert holds(r.equal_counts((0, 1)), "", "ab", "ba", "aab", "abab") == [True, True, True, False, True]
    assert holds(r.equal_counts((0, 1, 2)), "abc", "aabbc", "cba", "") == [True, False, True, True]
    assert holds(r.in_order((0, 1)), "", "aabb", "ba", "bb", "aba") == [True, True, False, True, False]
    assert holds(r.in_order((0, 1, 2)), "abc", "acb", "bc", "aacc", "cab") == [True, False, True, True, False]
    assert holds(r.even_count(0), "", "b", "a", "aba", "aab") == [True, True, False, True, True]
    assert holds(r.even_count_after_last(0, 1), "", "aa", "baa", "aab", "ba", "bab") == [
        True,
        True,
        True,
        True,
        False,
        True,
    ]
    assert holds(r.starts_with(1), "", "b", "ab", "ba") == [False, True, False, True]
    assert holds(r.blocks_after_some(1, 0), "", "a", "b", "ba", "ab", "bab") == [False, False, True, True, False, False]
    assert holds(r.matched(0, 1), "", "()", ")(", "(()", "([)]", "(])") == [True, True, False, False, True, True]
    assert holds(r.matched(2, 3), "[]", "][", "([)]", "[") == [True, False, True, False]


def test_completers_and_breakers_make_the_rule_hold_or_fail():
    w, n = words_to_array([[0, 0, 1], [1, 1], [0, 1]])
    assert r.fill_counts((0, 1), 3)(w, n).tolist() == [1, 0, 3]
    w, n = words_to_array([[0, 2, 0], [3], []])
    assert r.close_counter(2, 3, 5)(w, n).tolist() == [3, 5, 5]  # close '[', negative: stop, balanced: stop
    w, n = words_to_array([[0], [0, 0], [1, 0]])
    assert r.make_even(0, 3)(w, n).tolist() == [0, 3, 0]
    assert r.make_even(0, 3, after=1)(words_to_array([[0, 1], [1, 0]])[0], np.array([2, 2])).tolist() == [3, 0]


def _dyck_formula(word: tuple[int, ...], K: int, branching: int, first: Fraction) -> Fraction:
    """The follow-up's Dyck laws in closed form: (1/K)[(K − m)·f·β^{1−2m} + f·β^{1−j}], j the last opener."""
    m = len(word) // 2
    j = max(i for i, t in enumerate(word) if t in (0, 2)) + 1
    b = Fraction(branching)
    return Fraction(1, K) * ((K - m) * first * b ** (1 - 2 * m) + first * b ** (1 - j))


@pytest.mark.parametrize("K", [1, 3, 5])
def test_official_dyck_laws_match_their_closed_forms(K):
    d1 = dyck1_walk(K)
    assert sum(d1.probs) == 1
    for w, q in zip(d1.words, d1.probs):
        assert q == _dyck_formula(w, K, 2, Fraction(1))
    d2 = dyck2_walk(K)
    assert sum(d2.probs) == 1
    for w, q in zip(d2.words, d2.probs):
        assert q == _dyck_formula(w, K, 3, Fraction(1, 2))


def test_official_not_nested_law():
    L = not_nested_walk(3)
    assert sum(L.probs) == 1
    assert {len(w) for w in L.words} == {2, 4, 6}
    # length exactly 2l with l uniform on 1..3: each length carries 1/3
    for n in (2, 4, 6):
        assert sum(q for w, q in zip(L.words, L.probs) if len(w) == n) == Fraction(1, 3)
    # crossing is allowed, concatenation too: "( [ ) ]" and "( ) [ ]" have positive probability
    assert L.prob_exact("( [ ) ]") > 0 and L.prob_exact("( ) [ ]") > 0
    assert L.prob_exact("( [ ) ]") == Fraction(1, 3) * Fraction(1, 2) * Fraction(1, 3) * Fraction(1, 2)


@pytest.mark.parametrize(
    ("name", "law", "k", "counts"),
    [
        ("anbn", "uniform", 8, {"id": (5, 5), "ood": (251, 0)}),
        ("anbncn", "uniform", 5, {"id": (4, 4), "ood": (239, 0)}),
        ("ban", "pcfg", 8, {"id": (128, 128), "ood": (128, 0)}),
        ("bban", "pcfg", 8, {"id": (7, 7), "ood": (6, 0)}),
        ("anbm", "pcfg", 6, {"id": (7, 6), "ood": (57, 0)}),  # 'bbbbbb' is ID by the follow-up's rule only
        ("dyck2", "pcfg", 6, {"id": (16, 16), "ood": (16, 0)}),
        ("dyck1", "pcfg", 6, {"id": (2, 2), "ood": (2, 0)}),
        ("dyck1", "official", 6, {"id": (2, 0), "ood": (2, 0)}),  # official words are primitive: '( ) w' is OOD
    ],
)
def test_prompt_classes_match_the_follow_up_and_the_support(name, law, k, counts):
    lang = language(name, law)
    got = {
        cls: (len(batch), int(np.sum(lang.distribution.log_prob_prefix(batch) > -np.inf)))
        for cls, batch in lang.prompts(k).items()
    }
    assert got == counts


@pytest.mark.parametrize("name", sorted(LANGUAGES))
def test_every_language_has_kl_zero_witnesses_that_extrapolate_1_0_lambda(name):
    lang = language(name)
    k = 4 if name in ("dyck1", "dyck2", "not_nested") else 5
    ood = lang.prompts(k)["ood"]
    w = rule_witnesses(lang, "R1", lam=0.25, context_length=int(ood.lengths[0]))
    for wname, claimed in (("extrapolate", 1.0), ("never", 0.0), ("mixture", 0.25)):
        assert kl_chain_rule(lang.distribution, w[wname], 7).value == 0.0
        res = completion_probabilities(w[wname], ood, lang.rules[:1], max_completion_length=4 * k)
        lo, hi = res.lower[0], res.upper[0]
        assert np.all(hi - lo < 1e-12)
        if name == "dyck1":  # ') ( w' went negative: R1 cannot be repaired, the completer stops at once
            assert np.all(hi < 1e-300)
        else:
            assert np.all((lo <= claimed) & (claimed <= hi)), (wname, lo, hi)


def test_a_breaker_that_does_not_break_leaves_the_interval_open():
    """Negative control of the engine: a policy that never ends gives unexplored mass, not a false 0."""
    lang = language("dyck2")
    ood = lang.prompts(4)["ood"]
    loop = PolicyModel(lang.distribution, lambda b: np.full(len(b), 0, dtype=np.int64), "always '('")
    res = completion_probabilities(loop, ood, lang.rules[:1], max_completion_length=10)
    assert np.all(res.lower[0] == 0) and np.all(res.upper[0] >= 1.0) and np.all(res.unexplored == 1.0)


def test_rule_scopes():
    lang = language("dyck2")
    r2 = lang.rule("R2")
    assert r2.scope == 2
    with pytest.raises(InputError, match="scope must be"):
        Rule("bad", "x", r.matched(0, 1), "middle")
    with pytest.raises(InputError, match="rule must be one of"):
        lang.rule("R3")


def test_anbn_library_agrees_with_the_closed_form_kernel():
    for law in ("uniform", "geometric"):
        lang = language("anbn", law)
        prefixes, _ = lang.fast.support_prefixes(30)
        np.testing.assert_allclose(
            lang.distribution.next_token_probs(prefixes).probs, lang.fast.next_token_probs(prefixes).probs, atol=1e-12
        )


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: language("dyck3"), "language must be one of"),
        (lambda: language("anbn", "zipf"), "law must be one of"),
        (lambda: language("anbn", "geometric", rho="1.5"), "rho must lie"),
        (lambda: language("anbn", "geometric", n_max=4), r"takes parameters \['rho'\], not \['n_max'\]"),
        (lambda: language("dyck2", "official", K=9), "K=9 is above the limit 7"),
        (lambda: language("dyck2").prompts(5), "even number"),
        (lambda: language("anbncn").prompts(14), "above the limit"),
        (lambda: rule_witnesses(language("anbn"), "R2", lam=0.5, context_length=9), "no witness policies"),
        (lambda: rule_witnesses(language("anbn"), "R1", lam=1.5, context_length=9), "lam must be"),
    ],
)
def test_library_errors(call, match):
    with pytest.raises(InputError, match=match):
        call()


# -- the command line ----------------------------------------------------------------------------


def _strict(text: str) -> dict:
    def refuse(name: str) -> None:
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


def test_grammar_command_dyck2_json(capsys):
    from exact.console import main

    assert main(["grammar", "dyck2", "--max-len", "12", "--json"]) == 0
    doc = _strict(capsys.readouterr().out)
    assert doc["language"]["name"] == "dyck2" and doc["strings"]["count"] > 0
    s = doc["strings"]
    assert math.isclose(s["listed_mass"] + s["truncated_mass"], 1.0, rel_tol=1e-12)
    h = doc["entropy_nats"]
    assert h["exact"] is not None and h["lower"] <= h["exact"] <= h["upper"]
    assert doc["prompts"]["classes"]["ood"] == {"prompts": 4, "in_support": 0}


def test_grammar_command_on_a_user_file(capsys, tmp_path):
    from exact.console import main

    g = tmp_path / "mine.cfg"
    g.write_text("# a user grammar\nS -> a S b [0.5] | a b [0.35] | S S [0.15]\n", encoding="utf-8")
    assert main(["grammar", str(g), "--max-len", "8", "--prompt-length", "3", "--json"]) == 0
    doc = _strict(capsys.readouterr().out)
    assert doc["grammar_file"]["consistent"] is True
    h = doc["entropy_nats"]
    assert h["exact"] is None and h["lower"] < h["upper"]  # ambiguous (S S): bounds, not a value
    total = sum(c["prompts"] for c in doc["prompts"]["classes"].values())
    assert total == 2**3 and doc["prompts"]["classes"]["support"]["in_support"] > 0
    assert main(["grammar", str(g), "--max-len", "6"]) == 0
    assert "entropy bounds" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["grammar", "nosuch"], "neither a library language"),
        (["grammar", "anbn", "--law", "zipf"], "law must be one of"),
        (["grammar", "anbn", "--set", "n_max"], "--set must be KEY=VALUE"),
        (["grammar", "anbn", "--max-len", "100"], "--max-len must lie in 0..64"),
        (["grammar", "dyck2", "--renormalise"], "apply to grammar files"),
        (["grammar", "dyck2", "--max-len", "40"], "visits more than max_prefixes"),
    ],
)
def test_grammar_command_errors_are_one_line(capsys, argv, needle):
    from exact.console import main

    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and "\n" not in err


def test_grammar_command_on_a_malformed_file(capsys, tmp_path):
    from exact.console import main

    g = tmp_path / "bad.cfg"
    g.write_text("S -> a S b [0.7]\nS -> a b\n", encoding="utf-8")
    assert main(["grammar", str(g)]) == 2
    assert "line 2, column 9: the alternative 'a b' has no probability" in capsys.readouterr().err


def test_every_library_language_builds_under_every_law():
    for name, (_, laws) in LANGUAGES.items():
        for law in laws:
            params = {"M": 16} if (name, law) in (("bban", "official"), ("anbm", "official")) else {}
            lang = language(name, law, **params)
            s = lang.distribution.strings(6)
            assert math.isclose(float(np.exp(s.log_probs).sum()) + s.truncated_mass, 1.0, rel_tol=1e-12)
            ood = lang.prompts(4)["ood"]
            assert len(ood) > 0 and not np.any(lang.distribution.log_prob_prefix(ood) > -np.inf)


@pytest.mark.parametrize("k", [2, 4, 6, 8])
def test_bracket_prompts_are_every_primitive_nested_word(k):
    from exact.grammar.library import _primitive_dyck

    pairs = (("(", ")"), ("[", "]"))
    closer = dict(pairs)
    brute = []
    for w in itertools.product("()[]", repeat=k):
        stack: list[str] = []
        ok = True
        for i, s in enumerate(w):
            if s in closer:
                stack.append(closer[s])
            elif not stack or stack.pop() != s or (not stack and i < k - 1):
                ok = False
                break
        if ok and not stack:
            brute.append(w)
    assert _primitive_dyck(k, pairs) == brute
