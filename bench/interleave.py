"""Throughput of the interleaver on a 20-word, 300-unit utterance, on one core.

    python bench/interleave.py [--seconds 3]

Prints interleaved sequences per second for several text ratios p and both
replacement modes, and the ratio to the target (5,000/s, so that the data
pipeline never limits training), measured side by side in one run against a
plain copy of the unit list (the floor any implementation pays).
"""
from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from s2s_plugin.interleave.interleaver import Interleaver  # noqa: E402

TARGET = 5000.0


def make_utterance(n_words: int = 20, n_units: int = 300, seed: int = 0):
    rng = np.random.default_rng(seed)
    units = (1000 + rng.integers(0, 500, n_units)).tolist()
    bounds = np.linspace(0, n_units, n_words + 1).astype(int)
    spans = [(int(a) + 1, int(b)) for a, b in zip(bounds[:-1], bounds[1:])]  # one silence unit each
    words = [rng.integers(0, 900, rng.integers(1, 4)).tolist() for _ in range(n_words)]
    return units, spans, words


def rate(fn, seconds: float) -> float:
    n, t0 = 0, time.perf_counter()
    while True:
        for _ in range(200):
            fn(n)
            n += 1
        dt = time.perf_counter() - t0
        if dt >= seconds:
            return n / dt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    args = parser.parse_args()
    units, spans, words = make_utterance()
    floor = rate(lambda i: list(units), args.seconds)
    print(f"utterance: {len(words)} words, {len(units)} units; one process, OMP_NUM_THREADS=1")
    print(f"{'mode':<6} {'p':>4} {'seq/s':>10} {'vs target':>10} {'vs list copy':>13}")
    worst = float("inf")
    for mode in ("text", "mask"):
        il = Interleaver(lam=1.0, mode=mode, mask_id=999, seed=0)
        for p in (0.0, 0.3, 0.6, 0.9, 1.0):
            r = rate(lambda i: il(units, spans, words, p, key="utt", step=i), args.seconds)
            worst = min(worst, r) if p > 0 else worst
            print(f"{mode:<6} {p:>4.1f} {r:>10,.0f} {r / TARGET:>9.1f}x {r / floor:>12.3f}x")
    print(f"slowest (p > 0): {worst:,.0f} seq/s = {worst / TARGET:.1f}x the 5,000/s target "
          f"-> {'OK' if worst >= TARGET else 'BELOW TARGET'}")


if __name__ == "__main__":
    main()
