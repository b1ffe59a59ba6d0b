"""Peak memory of CTC segmentation on a long recording, windowed against in one piece.

    python bench/align_memory.py [--minutes 10] [--window 60] [--overlap 10] [--vocab 40]

A synthetic ``(T, V)`` posterior matrix stands in for a CTC model's output
(no model needed): ``--minutes`` of 50 frames/s, random words of 1-5 tokens,
2-5 frames apart, pauses of 3-30 frames, each token a confident spike over a
confident blank, with Gaussian noise. Its words are aligned twice by
:func:`s2s_plugin.align.ctcseg.ctc_word_spans`, each in a fresh process:

- ``one piece``: the whole text against the whole matrix (the ``ctc_segmentation``
  package's trellis: up to frames x tokens float32 cells, its band doubling from
  8000 frames when the path leaves it);
- ``windowed``: ``window=--window`` seconds, ``window_overlap=--overlap``
  (what the ``ctc_segmentation`` aligner does by default).

It prints the peak resident memory each added to its process (peak RSS minus
the RSS once the posteriors are built), their time, the share of words whose
span holds all their tokens' frames (the synthetic truth), the ratio of the
two peaks and the largest difference between the two alignments' word
boundaries. One thread.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _proc import peak_rss, rss, run_fresh  # noqa: E402

FRAME_RATE = 50.0


def synthetic(minutes: float, vocab: int, seed: int = 0):
    """``(logp, word ids, (first, last) token frame of each word)``: confident posteriors of random words."""
    import numpy as np

    rng = np.random.default_rng(seed)
    n = int(minutes * 60 * FRAME_RATE)
    logp = rng.normal(0, 1, (n, vocab)).astype(np.float32)
    logp[:, 0] += 8
    words, where, t = [], [], 5
    while True:
        ids = rng.integers(1, vocab, int(rng.integers(1, 6))).tolist()
        frames = (t + np.cumsum(rng.integers(2, 6, len(ids)))).tolist()
        if frames[-1] + 40 >= n:
            break
        words.append(ids)
        where.append((frames[0], frames[-1]))
        logp[frames, ids] += 14
        t = frames[-1] + int(rng.integers(3, 30))
    logp -= np.log(np.exp(logp).sum(axis=1, keepdims=True))
    return logp, words, where


def worker(method: str, minutes: float, vocab: int, window: float, overlap: float) -> dict:
    """Align once in this (fresh) process; return the spans, time and memory added."""
    import logging

    from s2s_plugin.align.ctcseg import ctc_word_spans

    logging.disable(logging.WARNING)  # the package warns each time it widens its band
    logp, words, where = synthetic(minutes, vocab)
    base = rss()
    t0 = time.perf_counter()
    spans = ctc_word_spans(logp, words, FRAME_RATE, None, window=window if method == "windowed" else None,
                           window_overlap=overlap)
    seconds = time.perf_counter() - t0
    held = sum(a <= f0 / FRAME_RATE and f1 / FRAME_RATE < b for (a, b), (f0, f1) in zip(spans, where))
    return {"held": held, "method": method, "frames": int(logp.shape[0]), "words": len(words),
            "tokens": sum(len(w) for w in words), "seconds": seconds, "added_bytes": max(peak_rss() - base, 0),
            "spans": spans}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the synthetic recording")
    parser.add_argument("--window", type=float, default=60.0, help="window of the windowed alignment (seconds)")
    parser.add_argument("--overlap", type=float, default=10.0, help="its overlap (seconds)")
    parser.add_argument("--vocab", type=int, default=40, help="tokens of the synthetic model, blank included")
    parser.add_argument("--worker", choices=["one piece", "windowed"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.minutes, args.vocab, args.window, args.overlap)))
        return
    import numpy as np
    from humanfriendly import format_size

    common = ["--minutes", str(args.minutes), "--vocab", str(args.vocab), "--window", str(args.window),
              "--overlap", str(args.overlap)]
    whole = run_fresh(__file__, ["--worker", "one piece", *common])
    win = run_fresh(__file__, ["--worker", "windowed", *common])
    print(f"{args.minutes:g} min of synthetic posteriors: {whole['frames']:,} frames x {args.vocab} tokens, "
          f"{whole['words']:,} words, {whole['tokens']:,} tokens; one thread; each alignment in a fresh process; "
          "memory = peak RSS - RSS once the posteriors are built")
    print(f"{'method':<22} {'peak memory':>12} {'time':>8} {'words right':>12}")
    for name, r in (("one piece", whole), (f"windowed {args.window:g} s", win)):
        print(f"{name:<22} {format_size(r['added_bytes']):>12} {r['seconds']:>7.1f}s "
              f"{100 * r['held'] / r['words']:>11.1f}%")
    diff = np.abs(np.array(whole["spans"]) - np.array(win["spans"])).max()
    print(f"one piece / windowed peak: {whole['added_bytes'] / max(win['added_bytes'], 1):.1f}x; "
          f"largest word boundary difference: {1000 * diff:.1f} ms")


if __name__ == "__main__":
    main()
