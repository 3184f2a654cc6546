"""exact.core's shared plumbing: validation, named random streams, kl_terms, lazy exports."""

from __future__ import annotations

import math

import numpy as np
import pytest

from exact.core.kl import kl_terms
from exact.core.lazy import lazy_exports
from exact.core.rng import STREAMS, as_seed_sequence, generator, stream, stream_names, torch_seed
from exact.core.validate import InputError, InputTypeError, check_float, check_int, check_stochastic


class TestValidate:
    def test_a_wrong_type_is_a_type_error_and_a_bad_value_a_value_error(self):
        for bad in (2.5, True, "4", None):
            with pytest.raises(TypeError, match=r"^n must be an integer, got") as info:
                check_int(bad, "n")
            assert isinstance(info.value, InputTypeError)
        with pytest.raises(ValueError, match=r"^n must be an integer ≥ 1, got 0$") as err:
            check_int(0, "n")
        assert isinstance(err.value, InputError) and not isinstance(err.value, TypeError)
        with pytest.raises(InputError, match=r"n=9 is above the limit 8 \(why\)"):
            check_int(9, "n", maximum=8, why=" (why)")
        assert check_int(np.int64(3), "n") == 3 and type(check_int(np.int64(3), "n")) is int

    def test_check_float_names_the_interval(self):
        assert check_float(0.5, "x", 0.0, 1.0, lo_open=True, hi_open=True) == 0.5
        assert check_float(np.int64(0), "x", 0.0, 1.0, lo_open=False, hi_open=True) == 0.0  # NumPy integers too
        with pytest.raises(InputError, match=r"x must be a number in \(0.0, 1.0\), got 1.0"):
            check_float(1.0, "x", 0.0, 1.0, lo_open=True, hi_open=True)
        with pytest.raises(InputTypeError, match="x must be a number, got str"):
            check_float("0.5", "x", 0.0, 1.0, lo_open=True, hi_open=True)
        with pytest.raises(InputError, match="got nan"):
            check_float(math.nan, "x", 0.0, 1.0, lo_open=False, hi_open=False)

    def test_check_stochastic_names_the_row(self):
        arr = check_stochastic([[0.5, 0.5], [1.0, 0.0]], "t", ndim=2)
        assert not arr.flags.writeable
        with pytest.raises(InputError, match=r"t row 1 sums to 0.9"):
            check_stochastic([[0.5, 0.5], [0.9, 0.0]], "t", ndim=2)
        with pytest.raises(InputTypeError, match="t must be a numeric array"):
            check_stochastic([[object()]], "t", ndim=2)


class TestNamedStreams:
    def test_streams_are_reproducible_distinct_and_named(self):
        draw = lambda name: generator(7, name).integers(1 << 62, size=4).tolist()  # noqa: E731
        assert draw("prompts") == draw("prompts")
        assert len({tuple(draw(n)) for n in STREAMS}) == len(STREAMS)
        assert stream_names("data", "dropout") == {"data": [STREAMS["data"]], "dropout": [STREAMS["dropout"]]}
        with pytest.raises(InputError, match="unknown random stream 'promts'"):
            stream(7, "promts")
        with pytest.raises(InputTypeError, match="seed must be an integer"):
            stream(7.0, "data")  # type: ignore[arg-type]

    def test_stream_keys_are_fixed(self):
        # Committed runs were trained with these exact streams: changing a key changes every result.
        assert generator(3, "data").random() == np.random.default_rng([3, 2]).random()
        assert generator(3, "shuffle").random() == np.random.default_rng([3, 3]).random()
        assert torch_seed(3, "dropout") == int(
            np.random.SeedSequence([3, 1]).generate_state(1, dtype=np.uint64)[0] >> 1
        )
        assert torch_seed(3, "dropout") != torch_seed(4, "dropout")

    def test_as_seed_sequence(self):
        seq = stream(1, "prompts")
        assert as_seed_sequence(seq) is seq
        assert as_seed_sequence(5).entropy == 5
        with pytest.raises(InputError):
            as_seed_sequence(-1)


class TestKlTerms:
    def test_equal_joints_give_exact_zeros_and_a_missed_support_inf_never_nan(self):
        logp = np.array([np.log(0.5), np.log(0.5), -np.inf, -1e6])
        logq = np.array([np.log(0.5), -np.inf, -3.0, -np.inf])
        terms = kl_terms(logp, logq)
        assert terms[0] == 0.0 and terms[2] == 0.0  # equal, and p(x) = 0
        assert terms[1] == np.inf and terms[3] == np.inf  # q misses support, also where p(x) underflows
        assert not np.isnan(terms).any()
        assert kl_terms(np.log([0.25]), np.log([0.5]))[0] == pytest.approx(0.25 * math.log(0.5))


def test_lazy_exports_import_on_first_use():
    getattr_, dir_ = lazy_exports("demo", {"sqrt": "math"})
    assert getattr_("sqrt")(9.0) == 3.0 and dir_() == ["sqrt"]
    with pytest.raises(AttributeError, match="module 'demo' has no attribute 'nope'"):
        getattr_("nope")
