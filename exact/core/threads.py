"""Thread settings that keep ``nonident`` fast when it shares the CPU with other work.

torch's intra-op parallelism (ATen kernels and its MKL GEMMs) runs on GNU OpenMP
(``torch/lib/libgomp.so.1``), whose threads by default *spin* about 3 ms at every barrier
before sleeping. The small transformers of ``E1-rule-extrapolation`` enter thousands of
short parallel regions, so beside one other CPU-bound process on 2 cores the main thread
keeps waiting at a barrier for a worker that the competitor has descheduled, while spinning
threads burn the CPU time the others need: the claim ran 5–10× slower (24–31 s alone,
215–409 s loaded; ``benchmarks/bench_load.py``). ``OMP_WAIT_POLICY=PASSIVE`` makes waiting threads
sleep at once (GNU libgomp: spin count 0; LLVM/Intel OpenMP: block time 0), and a woken
thread is scheduled promptly. ``GOMP_SPINCOUNT``/``KMP_BLOCKTIME`` are not set: PASSIVE
already implies them, and they would override a user's explicit ``OMP_WAIT_POLICY=ACTIVE``.

The thread counts default to the cores this process may run on (:func:`available_cores`:
the affinity mask, not the machine's core count), or to a user's smaller
``OMP_NUM_THREADS``. numba's ``omp`` threading layer does not add a second pool: its
``omppool`` extension binds to the OpenMP runtime torch already loaded (the claims import
torch before any numba kernel runs), so numba's ``prange`` kernels (here
``exact.anbn._kernels.enumerate_layer``, building the prompt set) and torch share one
pool, entered from the main thread one after the other, never at once. But every numba
parallel kernel sets that runtime's thread count to ``NUMBA_NUM_THREADS``, overriding
``OMP_NUM_THREADS`` and ``torch.set_num_threads`` for torch's later regions; hence
``NUMBA_NUM_THREADS`` gets the same default, and :func:`learned.nn.device.cap_torch_threads`
caps torch at the available cores too.

Every value is set with :meth:`os.environ.setdefault`, so a user's own setting wins.
OpenMP reads these variables once, when its library is loaded (``import torch``, numba's
first parallel kernel), so :func:`configure_threads` runs first thing in
:func:`exact.console.main`, before any command imports torch. (NumPy's and SciPy's
OpenBLAS are loaded earlier, by ``import exact``; their default thread count is already
the affinity mask.)
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

__all__ = ["THREAD_COUNT_VARIABLES", "available_cores", "configure_threads"]

#: The thread-count variables capped at :func:`available_cores` (OpenMP, MKL, OpenBLAS, numba).
THREAD_COUNT_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")


def available_cores() -> int:
    """Cores this process may run on: its affinity mask where the OS has one, else ``os.cpu_count()``."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # macOS and Windows have no sched_getaffinity
        return max(1, os.cpu_count() or 1)


def configure_threads(environ: MutableMapping[str, str] | None = None, *, cores: int | None = None) -> dict[str, str]:
    """Set the passive wait policy and the thread counts (see the module); a variable already set is kept.

    ``environ`` defaults to :data:`os.environ` (so the values reach the C libraries loaded
    later and child processes); ``cores`` defaults to :func:`available_cores`. Returns the
    resulting values of the variables it manages.
    """
    env = os.environ if environ is None else environ
    n = available_cores() if cores is None else cores
    user = env.get("OMP_NUM_THREADS", "").strip()
    if user.isdigit() and int(user) > 0:  # `OMP_NUM_THREADS=1 nonident …` means one thread for numba too
        n = min(n, int(user))
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    for name in THREAD_COUNT_VARIABLES:
        env.setdefault(name, str(n))
    return {name: env[name] for name in ("OMP_WAIT_POLICY", *THREAD_COUNT_VARIABLES)}
