"""The layers of docs/design.md, enforced: import contracts (with a negative control), no cycles,
no private module used across subpackages, and no citation of anything outside the repository."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("exact", "learned", "proofs_check")
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(tree / "pyproject.toml"), "--no-cache"],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PYTHONPATH": str(tree), "PATH": ""},
    )


@pytest.fixture(scope="module")
def tree_copy(tmp_path_factory) -> Path:
    """The three packages and pyproject.toml, copied so that a test can break them."""
    dst = tmp_path_factory.mktemp("tree")
    for pkg in PACKAGES:
        shutil.copytree(ROOT / pkg, dst / pkg, ignore=shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc"))
    shutil.copy(ROOT / "pyproject.toml", dst / "pyproject.toml")
    return dst


def test_the_import_contracts_hold(tree_copy):
    out = _lint_imports(tree_copy)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("exact/core/tokens.py", "import learned.nn.config", "proofs_check above learned above exact"),
        ("exact/anbn/rules.py", "import exact.hmm.mixture", "case study 1 (anbn) and case study 2"),
        ("exact/core/kl.py", "import exact.icl.qn", "the case studies on the core"),
        ("learned/nn/model.py", "import learned.rule_extrapolation.data", "experiments on the network"),
        ("exact/hmm/prompts.py", "import torch", "exact never loads torch"),
    ],
)
def test_a_deliberate_upward_import_breaks_its_contract(tree_copy, tmp_path, module, line, contract):
    broken = tmp_path / "broken"
    shutil.copytree(tree_copy, broken)
    target = broken / module
    target.write_text(target.read_text() + f"\n{line}  # deliberately upward\n")
    out = _lint_imports(broken)
    assert out.returncode != 0, out.stdout
    text = " ".join(out.stdout.split())
    assert "0 broken" not in text and contract in text.split("Broken contracts")[1]


@pytest.fixture(scope="module")
def graph() -> nx.DiGraph:
    g = grimp.build_graph(*PACKAGES, cache_dir=None)
    out = nx.DiGraph()
    for m in g.modules:
        out.add_node(m)
        out.add_edges_from((m, t) for t in g.find_modules_directly_imported_by(m))
    return out


def test_there_are_no_import_cycles(graph):
    assert list(nx.simple_cycles(graph)) == []


def test_a_cycle_would_be_found(graph):
    g = graph.copy()
    g.add_edge("exact.core.tokens", "exact.core.kl")  # negative control: kl imports tokens
    assert list(nx.simple_cycles(g))


def _private_uses(graph: nx.DiGraph) -> list[tuple[str, str]]:
    """Imports of a private module (``_name``) from outside the package that holds it."""
    bad = []
    for importer, imported in graph.edges:
        parts = imported.split(".")
        private = [i for i, p in enumerate(parts) if p.startswith("_") and p not in ("__init__", "__main__")]
        if private and not importer.startswith(".".join(parts[: private[0]]) + "."):
            bad.append((importer, imported))
    return bad


def test_no_private_module_is_used_outside_its_package(graph):
    assert _private_uses(graph) == []
    g = graph.copy()
    g.add_edge("exact.icl.swap_kl", "exact.hmm._kernels")  # negative control
    assert _private_uses(g) == [("exact.icl.swap_kl", "exact.hmm._kernels")]


#: Briefing documents that are not part of the repository, and (in code) the project's own issue numbers;
#: docs/ may cite public third-party issue threads.
OUTSIDE = re.compile(r"(PAPER|STYLE|PEERS|ENVIRONMENT)\.md|shared" + "/docs")
ISSUE = re.compile(r"\bissues? #?\d+\b", re.IGNORECASE)


def _cites_outside(path: str, text: str) -> bool:
    return bool(OUTSIDE.search(text) or (path.endswith(".py") and ISSUE.search(text)))


def test_no_file_cites_anything_outside_the_repository():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    texts = [p for p in tracked if p.endswith((".py", ".md", ".toml", ".json", ".html")) or p == ".ci/run"]
    offenders = [p for p in texts if (ROOT / p).exists() and _cites_outside(p, (ROOT / p).read_text(errors="ignore"))]
    assert offenders == []
    briefing, issue = "see " + "PAPER" + ".md §5.2", "(iss" + "ue 4)"  # spelt apart so this file does not cite them
    assert _cites_outside("r.md", briefing) and _cites_outside("a.py", issue)  # negative controls
    assert not _cites_outside("docs/a.md", "GINC iss" + "ue #5")  # docs may cite public third-party threads
