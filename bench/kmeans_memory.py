"""Peak memory of the streaming k-means fit against a load-everything fit, as the fit portion grows.

    python bench/kmeans_memory.py [--base_frames 25000] [--scales 1 4 16] [--dim 64] [--clusters 100]

For each scale s, s * base_frames feature frames (utterances of 250 frames
drawn around random centres, generated on the fly like features extracted
from audio) are clustered twice, each in a fresh process:

- ``streaming``: s2s_plugin's :class:`~s2s_plugin.units.kmeans.StreamingKMeans`
  (``MiniBatchKMeans.partial_fit`` on 10,000-frame buffers), what ``s2s units fit`` runs;
- ``load-all``: every frame concatenated into one array, then ``sklearn.cluster.KMeans``
  (what ESPnet's ``perform_kmeans.sh`` does).

It prints the peak resident memory each fit added to its process (peak RSS
minus the RSS after imports), side by side with their ratio, and the growth
of each from the smallest to the largest portion: the streaming peak stays
flat while the load-everything peak grows with the data. Both use one thread.
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

UTT_FRAMES = 250


def stream(n_frames: int, dim: int, seed: int = 0):
    """Utterances of ``UTT_FRAMES`` frames around 50 random centres, generated one at a time."""
    import numpy as np

    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((50, dim)).astype(np.float32) * 3
    left = n_frames
    while left > 0:
        n = min(UTT_FRAMES, left)
        lab = rng.integers(0, 50, n)
        yield (centres[lab] + rng.standard_normal((n, dim), dtype=np.float32))
        left -= n


class Regenerating:
    """A re-iterable stream (what ``s2s units fit`` passes: each pass re-reads the audio)."""

    def __init__(self, n_frames: int, dim: int) -> None:
        self.n_frames, self.dim = n_frames, dim

    def __iter__(self):
        return stream(self.n_frames, self.dim)


def worker(method: str, n_frames: int, dim: int, clusters: int) -> dict:
    """Run one fit in this (fresh) process; return its time and the memory it added."""
    import numpy as np
    from sklearn.cluster import KMeans

    from s2s_plugin.units.kmeans import StreamingKMeans

    base = rss()
    t0 = time.perf_counter()
    if method == "streaming":
        km = StreamingKMeans(n_clusters=clusters, batch_size=10000, epochs=1, seed=0)
        stats = km.fit(Regenerating(n_frames, dim))
        frames = stats["frames"]
    else:
        feats = np.concatenate(list(stream(n_frames, dim)))
        KMeans(n_clusters=clusters, n_init=1, max_iter=10, random_state=0).fit(feats)
        frames = len(feats)
    seconds = time.perf_counter() - t0
    peak = peak_rss()
    return {"method": method, "frames": frames, "seconds": seconds, "added_bytes": max(peak - base, 0)}


def run_worker(method: str, n_frames: int, dim: int, clusters: int) -> dict:
    return run_fresh(__file__, ["--worker", method, "--frames", str(n_frames), "--dim", str(dim),
                                "--clusters", str(clusters)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base_frames", type=int, default=25000, help="frames of the 1x portion")
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 4, 16], help="portion sizes, in base_frames")
    parser.add_argument("--dim", type=int, default=64, help="feature dimension")
    parser.add_argument("--clusters", type=int, default=100, help="k-means clusters")
    parser.add_argument("--worker", choices=["streaming", "load-all"], help=argparse.SUPPRESS)
    parser.add_argument("--frames", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.frames, args.dim, args.clusters)))
        return
    from humanfriendly import format_size

    print(f"features: {args.dim}-dim float32, utterances of {UTT_FRAMES} frames; {args.clusters} clusters; "
          f"one thread; each fit in a fresh process; memory = peak RSS - RSS after imports")
    print(f"{'scale':>5} {'frames':>9} {'features':>10} | {'streaming':>10} {'time':>6} | {'load-all':>10} "
          f"{'time':>6} | {'load-all/streaming':>18}")
    rows = []
    for s in args.scales:
        n = s * args.base_frames
        a = run_worker("streaming", n, args.dim, args.clusters)
        b = run_worker("load-all", n, args.dim, args.clusters)
        rows.append((s, a, b))
        print(f"{s:>4}x {n:>9,} {format_size(n * args.dim * 4):>10} | {format_size(a['added_bytes']):>10} "
              f"{a['seconds']:>5.1f}s | {format_size(b['added_bytes']):>10} {b['seconds']:>5.1f}s | "
              f"{b['added_bytes'] / max(a['added_bytes'], 1):>17.1f}x")
    (s0, a0, b0), (s1, a1, b1) = rows[0], rows[-1]
    print(f"from {s0}x to {s1}x the data: streaming peak x{a1['added_bytes'] / max(a0['added_bytes'], 1):.2f}, "
          f"load-all peak x{b1['added_bytes'] / max(b0['added_bytes'], 1):.2f}")


if __name__ == "__main__":
    main()
