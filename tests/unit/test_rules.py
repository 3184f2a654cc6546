"""Rule checks R1, R2 and membership against hand cases (official data.py semantics)."""

import numpy as np

from exact import EOS, PAD, SOS, TokenBatch, check_rules, is_sentence


def test_hand_cases():
    batch = TokenBatch.from_strings(["", "ab", "ba", "aabb", "abab", "bbaa", "aaab", "bbb"])
    c = check_rules(batch)
    assert c.r1.tolist() == [True, True, True, True, True, True, False, False]
    assert c.r2.tolist() == [True, True, False, True, False, False, True, True]
    assert c.in_language.tolist() == [False, True, False, True, False, False, False, False]


def test_rules_stop_at_first_eos():
    batch = TokenBatch.from_sequences([[SOS, 0, 1, EOS, 0, 0], [SOS, 0, EOS, 1, PAD]])
    c = check_rules(batch)
    assert c.n_a.tolist() == [1, 1] and c.n_b.tolist() == [1, 0]
    assert c.has_eos.tolist() == [True, True]


def test_is_sentence():
    rows = [
        [SOS, 0, 1, EOS],
        [SOS, 0, 0, 1, 1, EOS, PAD, PAD],
        [SOS, 0, 1],  # no EOS
        [0, 1, EOS],  # no SOS
        [SOS, 0, 1, EOS, 0],  # a after EOS
        [SOS, EOS],  # n = 0
        [SOS, 0, 0, 1, EOS],
    ]
    assert is_sentence(TokenBatch.from_sequences(rows)).tolist() == [True, True, False, False, False, False, False]


def test_lengths_are_respected():
    tokens = np.array([[SOS, 0, 1, 0, 0]])
    c = check_rules(TokenBatch(tokens, np.array([3])))
    assert c.r1.tolist() == [True] and c.r2.tolist() == [True]
