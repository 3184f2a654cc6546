"""exact.core.records: frozen dataclasses that write and strictly read their own JSON layout."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import pytest

from exact.core.records import OMIT_IF_NONE, Record, read_value
from exact.core.validate import InputError


@dataclass(frozen=True)
class Leaf(Record, at="leaf"):
    n: int
    x: float


@dataclass(frozen=True)
class Tree(Record, at="tree"):
    name: str
    step: int | None = field(default=None, kw_only=True, metadata=OMIT_IF_NONE)
    leaf: Leaf
    leaves: tuple[Leaf, ...]
    by_name: dict[str, Leaf]
    values: tuple[float, ...]
    meta: dict[str, Any]
    note: str | None


@dataclass(frozen=True)
class Unnamed(Record):
    flag: bool


@dataclass(frozen=True)
class Counts(Record, at="counts"):
    """The same keys as Leaf, but ``x`` declared an integer: the negative control of the declared types."""

    n: int
    x: int


def tree_doc() -> dict[str, Any]:
    return {
        "name": "t",
        "step": 7,
        "leaf": {"n": 1, "x": 0.5},
        "leaves": [{"n": 2, "x": 3}, {"n": 4, "x": 1e-300}],
        "by_name": {"a": {"n": 5, "x": -0.0}},
        "values": [1, 2.5],
        "meta": {"commit": "abc", "shape": [2, 3], "nested": {"k": None}},
        "note": None,
    }


def error(fn: Any, needle: str) -> None:
    """``fn()`` raises an InputError containing exactly ``needle``."""
    with pytest.raises(InputError, match=re.escape(needle)):
        fn()


class TestRoundTrip:
    def test_a_document_reads_into_typed_values_and_writes_back_the_same_bytes(self):
        doc = tree_doc()
        t = Tree.from_dict(doc)
        assert t.leaf == Leaf(1, 0.5) and t.leaves[1].n == 4 and t.by_name["a"].x == 0.0 and t.step == 7
        assert t.values == (1, 2.5) and type(t.values[0]) is int  # a float field keeps an int as given
        assert type(t.leaves[0].x) is int and t.note is None
        assert t.as_dict() == doc and json.dumps(t.as_dict()) == json.dumps(doc)  # keys in field order
        assert Tree.from_dict(t.as_dict()) == t

    def test_as_dict_writes_by_declared_type(self):
        t = Tree.from_dict(tree_doc())
        out = t.as_dict()
        assert (
            isinstance(out["leaves"], list) and isinstance(out["values"], list) and out["leaves"][0] == {"n": 2, "x": 3}
        )
        assert out["meta"] == t.meta and out["meta"] is not t.meta  # a dict field is a new dict, its values as given
        # the values of a dict[str, Any] field are passed through, not converted (tuples stay tuples)
        assert Tree.from_dict(tree_doc() | {"meta": {"shape": (2, 3)}}).as_dict()["meta"]["shape"] == (2, 3)


class TestOmitIfNone:
    def test_a_none_field_is_left_out_and_its_absence_is_read_as_none(self):
        doc = tree_doc()
        del doc["step"]
        t = Tree.from_dict(doc)
        assert t.step is None and "step" not in t.as_dict() and t.as_dict() == doc
        assert list(Tree.from_dict(tree_doc()).as_dict())[:3] == ["name", "step", "leaf"]  # declared place

    def test_present_it_must_hold_a_value_of_the_declared_type_not_null(self):
        error(lambda: Tree.from_dict(tree_doc() | {"step": None}), "tree.step must be an integer, got None")
        error(lambda: Tree.from_dict(tree_doc() | {"step": "7"}), "tree.step must be an integer, got '7'")

    def test_a_plain_optional_field_is_required_but_may_be_null(self):
        doc = tree_doc()
        del doc["note"]
        error(lambda: Tree.from_dict(doc), "tree: missing key 'note' (expected keys name, leaf, leaves,")
        assert Tree.from_dict(tree_doc() | {"note": "n"}).note == "n"
        error(lambda: Tree.from_dict(tree_doc() | {"note": 1}), "tree.note must be a string, got 1")


class TestStrictness:
    def test_a_missing_key_is_named_with_its_path(self):
        doc = tree_doc()
        del doc["leaves"][1]["x"]
        error(lambda: Tree.from_dict(doc), "tree.leaves[1]: missing key 'x' (expected keys n, x)")
        error(lambda: Tree.from_dict(doc, at="run.per_seed[0]"), "run.per_seed[0].leaves[1]: missing key 'x'")

    def test_an_unexpected_or_renamed_key_is_named_with_its_path(self):
        doc = tree_doc()
        doc["by_name"]["a"]["y"] = 1
        error(lambda: Tree.from_dict(doc), "tree.by_name.a: unexpected key 'y' (expected keys n, x)")
        doc = tree_doc()
        doc["leaf"]["N"] = doc["leaf"].pop("n")
        error(lambda: Tree.from_dict(doc), "tree.leaf: missing key 'n', unexpected key 'N' (expected keys n, x)")
        error(
            lambda: Tree.from_dict(tree_doc() | {"extra": 1}),
            "tree: unexpected key 'extra' (expected keys name, leaf, leaves, by_name, values, meta, note; optional step)",
        )

    @pytest.mark.parametrize(
        ("path", "value", "needle"),
        [
            (("leaf", "n"), 1.0, "tree.leaf.n must be an integer, got 1.0"),
            (("leaf", "n"), True, "tree.leaf.n must be an integer, got True"),  # bool is not an int
            (("leaf", "x"), False, "tree.leaf.x must be a number, got False"),
            (("leaf", "x"), "0.5", "tree.leaf.x must be a number, got '0.5'"),
            (("leaves", 0, "x"), None, "tree.leaves[0].x must be a number, got None"),
            (("values", 1), [2.5], "tree.values[1] must be a number, got list"),
            (("values",), 2.5, "tree.values must be a list of numbers, got 2.5"),
            (("leaves",), {"n": 1}, "tree.leaves must be a list, got dict"),
            (("by_name",), [], "tree.by_name must be a JSON object, got list"),
            (("meta",), "abc", "tree.meta must be a JSON object, got 'abc'"),
            (("name",), 3, "tree.name must be a string, got 3"),
            (("leaf",), [1, 0.5], "tree.leaf: expected a JSON object, got list"),
            (("by_name", "a"), 1, "tree.by_name.a: expected a JSON object, got int"),
        ],
    )
    def test_a_value_of_the_wrong_kind_is_named_with_its_path(self, path, value, needle):
        doc = tree_doc()
        parent = doc
        for k in path[:-1]:
            parent = parent[k]
        parent[path[-1]] = value
        error(lambda: Tree.from_dict(doc), needle)

    def test_the_document_itself_must_be_an_object(self):
        error(lambda: Leaf.from_dict([1, 2]), "leaf: expected a JSON object, got list")  # type: ignore[arg-type]
        error(lambda: Unnamed.from_dict({"flag": 1}), "Unnamed.flag must be true or false, got 1")  # default path
        assert Unnamed.from_dict({"flag": False}).as_dict() == {"flag": False}


class TestDeclaredTypes:
    def test_negative_control_data_that_does_not_match_the_declared_type_is_rejected(self):
        # the same document is accepted by the record that declares it and rejected by one that does not
        assert Leaf.from_dict({"n": 1, "x": 2}) == Leaf(1, 2) and Counts.from_dict({"n": 1, "x": 2}) == Counts(1, 2)
        assert Leaf.from_dict({"n": 1, "x": 0.5}).x == 0.5
        error(lambda: Counts.from_dict({"n": 1, "x": 0.5}), "counts.x must be an integer, got 0.5")
        error(lambda: Tree.from_dict(tree_doc() | {"leaf": {"n": 1}}), "tree.leaf: missing key 'x'")

    def test_read_value_checks_one_value_against_a_type(self):
        assert read_value(tuple[int, ...], [1, 2], "xs") == (1, 2)
        assert read_value(dict[str, Leaf], {"a": {"n": 1, "x": 1.5}}, "m") == {"a": Leaf(1, 1.5)}
        assert read_value(float | None, None, "y") is None
        error(lambda: read_value(tuple[int, ...], [1, 2.0], "xs"), "xs[1] must be an integer, got 2.0")

    def test_an_unsupported_declaration_is_a_programming_error_not_an_input_error(self):
        with pytest.raises(TypeError, match="cannot be of type") as info:
            read_value(set[int], [1], "s")
        assert not isinstance(info.value, InputError)
        with pytest.raises(TypeError, match="T | None"):
            read_value(int | str, 1, "u")
