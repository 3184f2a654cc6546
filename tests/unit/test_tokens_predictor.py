"""Tokens, token batches and the predictor interface."""

import numpy as np
import pytest

from exact import (
    EOS,
    SOS,
    AnbnDistribution,
    NextTokenProbs,
    TokenBatch,
    UndefinedConditionalError,
    UniformLength,
    decode,
    encode,
    sequence_log_prob,
)


def test_encode_decode_round_trip():
    assert encode("aab").tolist() == [SOS, 0, 0, 1]
    assert encode("aab", sos=False).tolist() == [0, 0, 1]
    assert encode("SOS a b EOS").tolist() == [SOS, 0, 1, EOS]
    assert decode(encode("SOS a b EOS PAD")) == "SOS a b EOS PAD"


@pytest.mark.parametrize("text", ["abc", "SOS a x"])
def test_encode_rejects_unknown_symbols(text):
    with pytest.raises(ValueError, match="text"):
        encode(text)


def test_token_batch_rejects_unknown_token_id():
    with pytest.raises(ValueError, match="unknown token id 7"):
        TokenBatch.from_sequences([[SOS, 0], [SOS, 7]])
    with pytest.raises(ValueError, match="lengths"):
        TokenBatch(np.zeros((2, 3), dtype=np.int64), np.array([1, 4]))


def test_token_batch_rejects_float_tokens():
    with pytest.raises(ValueError, match="integer"):
        TokenBatch.from_sequences([[SOS, 2.7]])
    with pytest.raises(ValueError, match="integer"):
        TokenBatch(np.zeros((1, 2)), np.array([2]))


def test_token_batch_extend_and_rows():
    b = TokenBatch.from_strings(["a", "abb"]).extend(np.array([EOS, EOS]))
    assert b.row(0).tolist() == [SOS, 0, EOS]
    assert b.row(1).tolist() == [SOS, 0, 1, 1, EOS]


@pytest.mark.parametrize(
    "probs, defined, match",
    [
        ([[np.nan, 1, 0, 0, 0]], [True], "finite"),
        ([[0.5, 0.6, 0, 0, 0]], [True], "sums to"),
        ([[1.0, 0, 0, 0, 0]], [False], "all zero"),
        ([[-0.1, 1.1, 0, 0, 0]], [True], "non-negative"),
    ],
)
def test_next_token_probs_validation(probs, defined, match):
    with pytest.raises(ValueError, match=match):
        NextTokenProbs(np.array(probs, dtype=float), np.array(defined))


def test_require_defined_raises_on_undefined_rows():
    p = AnbnDistribution(UniformLength(4))
    out = p.next_token_probs(TokenBatch.from_strings(["a", "ba"]))
    assert out.defined.tolist() == [True, False]
    with pytest.raises(UndefinedConditionalError, match="undefined"):
        out.require_defined()


def test_sequence_log_prob_equals_kernel_prefix_probability():
    p = AnbnDistribution(UniformLength(6))
    batch = TokenBatch.from_strings(["aaab", "aabb", "a", "aaaaaa"])
    np.testing.assert_allclose(sequence_log_prob(p, batch, start=1), p.log_prob_prefix(batch), rtol=1e-14)
    with pytest.raises(ValueError, match="start"):
        sequence_log_prob(p, batch, start=-1)
