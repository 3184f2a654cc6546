"""exact.core.threads: the passive OpenMP wait policy and thread caps that ``nonident`` sets first."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from exact.core import threads
from exact.core.threads import THREAD_COUNT_VARIABLES, available_cores, configure_threads

MANAGED = ("OMP_WAIT_POLICY", *THREAD_COUNT_VARIABLES)

# Runs exact.console.main with dispatch replaced by a probe that records what the command would
# see and whether torch was already loaded (too late for the variables to matter). One fresh
# interpreter (importing exact is the slow part); before each case the managed variables are
# removed and the case's "user" values set, as if the user had started `nonident` with them.
PROBE = """
import json, os, sys
import exact.console as console
managed, cases = json.loads(sys.argv[1]), json.loads(sys.argv[2])
seen = []
def probe(parser, argv):
    seen.append({"env": {k: os.environ.get(k) for k in managed}, "torch": "torch" in sys.modules})
    return 0
console.dispatch = probe
for user in cases:
    for k in managed:
        os.environ.pop(k, None)
    os.environ.update(user)
    assert console.main([]) == 0
print(json.dumps(seen))
"""


def _run_main(*cases: dict[str, str]) -> list[dict]:
    env = {k: v for k, v in os.environ.items() if k not in MANAGED}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(MANAGED), json.dumps(cases)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(out.stdout.splitlines()[-1])


class TestConfigureThreads:
    def test_an_empty_environment_gets_the_passive_policy_and_the_core_count(self):
        env: dict[str, str] = {}
        got = configure_threads(env, cores=3)
        assert env == got == {"OMP_WAIT_POLICY": "PASSIVE"} | dict.fromkeys(THREAD_COUNT_VARIABLES, "3")

    def test_a_user_setting_is_kept(self):
        # negative control: a user who wants spinning workers (or other counts) keeps them
        env = {"OMP_WAIT_POLICY": "ACTIVE", "OMP_NUM_THREADS": "7", "UNRELATED": "x"}
        configure_threads(env, cores=2)
        assert env["OMP_WAIT_POLICY"] == "ACTIVE" and env["OMP_NUM_THREADS"] == "7" and env["UNRELATED"] == "x"
        assert env["MKL_NUM_THREADS"] == env["OPENBLAS_NUM_THREADS"] == env["NUMBA_NUM_THREADS"] == "2"

    def test_a_user_omp_num_threads_bounds_the_other_counts(self):
        # numba's kernels reset the shared OpenMP thread count to NUMBA_NUM_THREADS: it must follow
        env = {"OMP_NUM_THREADS": "1"}
        configure_threads(env, cores=4)
        assert env == {"OMP_WAIT_POLICY": "PASSIVE"} | dict.fromkeys(THREAD_COUNT_VARIABLES, "1")
        for odd in ("16", "0", "auto"):  # larger than the cores, or not a count: the cores
            env = {"OMP_NUM_THREADS": odd}
            configure_threads(env, cores=4)
            assert env["OMP_NUM_THREADS"] == odd and env["NUMBA_NUM_THREADS"] == env["MKL_NUM_THREADS"] == "4"

    def test_no_spin_variables_that_would_override_a_wait_policy(self):
        env = {"OMP_WAIT_POLICY": "ACTIVE"}
        configure_threads(env, cores=1)
        assert "GOMP_SPINCOUNT" not in env and "KMP_BLOCKTIME" not in env

    def test_the_default_is_os_environ_and_available_cores(self, monkeypatch):
        for name in MANAGED:
            monkeypatch.delenv(name, raising=False)  # restored (deleted) after the test
        monkeypatch.setattr(threads, "available_cores", lambda: 5)
        configure_threads()
        assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE" and os.environ["OMP_NUM_THREADS"] == "5"


class TestAvailableCores:
    def test_the_affinity_mask_not_the_machine(self, monkeypatch):
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 2, 5}, raising=False)
        monkeypatch.setattr(os, "cpu_count", lambda: 64)
        assert available_cores() == 3

    def test_without_affinity_the_cpu_count(self, monkeypatch):
        monkeypatch.delattr(os, "sched_getaffinity", raising=False)
        monkeypatch.setattr(os, "cpu_count", lambda: 6)
        assert available_cores() == 6
        monkeypatch.setattr(os, "cpu_count", lambda: None)  # undeterminable
        assert available_cores() == 1

    @pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity on this OS")
    def test_a_process_pinned_to_one_core_caps_at_one(self):
        # the module alone (it imports only the standard library), without the cost of `import exact`
        script = (
            "import importlib.util, os, sys; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); "
            "spec = importlib.util.spec_from_file_location('threads', sys.argv[1]); "
            "mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod); "
            "print(mod.configure_threads({})['OMP_NUM_THREADS'])"
        )
        cmd = [sys.executable, "-c", script, threads.__file__]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=60)
        assert out.stdout.strip() == "1"


def test_console_main_sets_the_policy_before_torch_loads_and_keeps_a_user_setting():
    default, user = _run_main({}, {"OMP_WAIT_POLICY": "ACTIVE", "OMP_NUM_THREADS": "1"})
    assert default["env"]["OMP_WAIT_POLICY"] == "PASSIVE"
    assert default["env"]["OMP_NUM_THREADS"] == str(available_cores())
    assert not default["torch"]  # so the OpenMP runtime that torch loads later reads these values
    # negative control: the user's own values reach the command unchanged
    assert user["env"]["OMP_WAIT_POLICY"] == "ACTIVE" and user["env"]["OMP_NUM_THREADS"] == "1"
