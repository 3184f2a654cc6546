"""Any probabilistic grammar, exactly: PCFGs and finite languages as predictors.

:mod:`~exact.grammar.pcfg` (the grammar and its validation), :mod:`~exact.grammar.text`
(the text format and nltk), :mod:`~exact.grammar.consistency` (partition function, spectral
radius, renormalisation), :mod:`~exact.grammar.normal_form` and its kernels,
:mod:`~exact.grammar.distribution` (:class:`GrammarDistribution`),
:mod:`~exact.grammar.finite` (:class:`FiniteLanguage`, any weighted list of words through a
prefix trie) and :mod:`~exact.grammar.base`, which both build on.
"""

from exact.grammar.base import EntropyBounds, LossFloors, StringSet, WordDistribution
from exact.grammar.consistency import Consistency, analyse
from exact.grammar.distribution import GrammarDistribution, derivational_entropy
from exact.grammar.pcfg import PCFG, Production
from exact.grammar.text import from_nltk, load_grammar, parse_grammar

__all__ = [
    "PCFG",
    "Production",
    "parse_grammar",
    "load_grammar",
    "from_nltk",
    "Consistency",
    "analyse",
    "GrammarDistribution",
    "derivational_entropy",
    "WordDistribution",
    "StringSet",
    "EntropyBounds",
    "LossFloors",
]
