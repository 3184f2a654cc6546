"""Benchmark: a ``cpu``-preset training step with glibc's default heap against freed memory kept for reuse.

Run: ``.venv/bin/python benchmarks/bench_train_step.py [--variant oracle] [--steps 50] [--threads 1]``

One seed-batched step of ``nonident reproduce rule-extrapolation --preset cpu`` (3 seeds; for the
``adversarial``/``oracle`` arms the 16 training sentences plus the 251 completed OOD prompts,
forward, backward, AdamW), under torch's deterministic algorithms as in training. Each setting
runs in a fresh interpreter, because ``mallopt`` cannot be undone: (a) glibc's defaults, (b)
:func:`exact.core.heap.keep_freed_memory`. It prints ms per step (best of 3 blocks of ``--steps``
after 5 warm-up steps), minor page faults per step and the ratio, and checks that both end with
the same parameters bit for bit (only where memory comes from differs).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = """
import hashlib, json, resource, sys, time
import numba, torch
from exact.core.heap import keep_freed_memory
from learned.nn.model import Transformer
from learned.rule_extrapolation import train as T
from learned.rule_extrapolation.config import preset
from learned.rule_extrapolation.losses import completion_loss, lm_loss

keep, variant, steps, threads = sys.argv[1] == "keep", sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
if keep:
    assert keep_freed_memory(), "glibc refused the thresholds"
torch.set_num_threads(threads)
numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
torch.use_deterministic_algorithms(True)
cfg = preset("cpu", **{"train.variant": variant})
data = T._data(cfg)
model = Transformer(cfg.model, cfg.train.seeds)
opt = torch.optim.AdamW(model.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.decay)
batch = torch.as_tensor(data.tests.tokens)
ext = None if data.extended is None else torch.as_tensor(data.extended)

def step():
    loss = lm_loss(model(batch[..., :-1]), batch, ignore_pad=False)
    if ext is not None:
        loss = loss + completion_loss(model(ext[:, :-1]), ext, prompt_length=data.ood.shape[1] - 1,
                                      official=False, ignore_pad=False)
    opt.zero_grad(set_to_none=True)
    loss.sum().backward()
    opt.step()

for _ in range(5):
    step()
best, faults = float("inf"), []
for _ in range(3):
    f0, t0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.perf_counter()
    for _ in range(steps):
        step()
    best = min(best, (time.perf_counter() - t0) / steps)
    faults.append((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0) / steps)
digest = hashlib.sha256(b"".join(p.detach().numpy().tobytes() for p in model.parameters())).hexdigest()
print(json.dumps({"ms": best * 1e3, "faults": min(faults), "digest": digest}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variant", default="oracle", choices=("ml", "adversarial", "oracle"))
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1, as a sweep job)")
    args = ap.parse_args()
    runs = {}
    for mode in ("default", "keep"):
        argv = [sys.executable, "-c", CHILD, mode, args.variant, str(args.steps), str(args.threads)]
        runs[mode] = json.loads(subprocess.run(argv, check=True, capture_output=True, text=True).stdout)
    if runs["default"]["digest"] != runs["keep"]["digest"]:
        raise SystemExit("the two heaps gave different parameters")
    print(f"cpu preset, {args.variant} arm, 3 seeds, {args.threads} thread(s), {3 * args.steps} steps per setting")
    for mode, label in (("default", "glibc defaults"), ("keep", "keep_freed_memory()")):
        r = runs[mode]
        print(f"{label:22s} {r['ms']:7.2f} ms/step  {r['faults']:8.1f} page faults/step")
    print(f"ratio default/kept {runs['default']['ms'] / runs['keep']['ms']:.2f}×; parameters identical: yes")


if __name__ == "__main__":
    main()
