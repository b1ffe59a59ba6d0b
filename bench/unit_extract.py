"""Unit feature extraction throughput: batched (sorted, padded, attention mask) versus one utterance at a time.

    python bench/unit_extract.py [--kind w2v-bert] [--batch 16] [--n 48] [--hidden 256] [--layers 4]
                                 [--min_s 2] [--max_s 8] [--threads 1] [--repeats 2]

Builds a randomly initialised transformers speech encoder of the chosen shape
(``w2v-bert``: Wav2Vec2BertModel + SeamlessM4T fbank, the paper's encoder;
``wav2vec2-layer``: wav2vec 2.0 large style, layer-norm front-end;
``wav2vec2-group``: wav2vec 2.0 / HuBERT base style, group-norm front-end, whose
conv front-end runs per utterance), saves it with ``save_pretrained`` and
extracts one hidden layer of ``n`` utterances of speech-like audio with durations
drawn uniformly in [min_s, max_s], through ``s2s_plugin``'s ``HfFeatures``:

- ``one-by-one``: ``extract_batch_size: 1``, what stage 4 did before batching;
- ``batched``: ``extract_batch_size: --batch``, what ``s2s units fit/label`` run now.

Both run in this process on the same model and audio, alternately, ``repeats``
times each; the best time of each is kept (the machine may be shared). Prints
utterances and audio seconds per second, the real-time factor (processing
seconds per audio second) of each, their throughput ratio (target: >= 3x at
batch 16 on CPU), and the largest difference between the two outputs.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "units"))


def build(kind: str, hidden: int, layers: int, path: str) -> None:
    """Save a random model of ``kind`` with its feature extractor into ``path``."""
    import torch
    from transformers import (SeamlessM4TFeatureExtractor, Wav2Vec2BertConfig, Wav2Vec2BertModel, Wav2Vec2Config,
                              Wav2Vec2FeatureExtractor, Wav2Vec2Model)

    torch.manual_seed(0)
    heads = max(1, hidden // 64)
    if kind == "w2v-bert":
        cfg = Wav2Vec2BertConfig(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                                 intermediate_size=4 * hidden, output_hidden_size=hidden, add_adapter=False)
        model, fe = Wav2Vec2BertModel(cfg), SeamlessM4TFeatureExtractor()
    else:
        norm = kind.split("-")[1]
        cfg = Wav2Vec2Config(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                             intermediate_size=4 * hidden, conv_dim=(hidden,) * 7, feat_extract_norm=norm,
                             do_stable_layer_norm=norm == "layer")
        model = Wav2Vec2Model(cfg)
        fe = Wav2Vec2FeatureExtractor(do_normalize=True, return_attention_mask=norm == "layer")
    model.save_pretrained(path)
    fe.save_pretrained(path)


def timed(extractor, waves) -> tuple[float, list[np.ndarray]]:
    t0 = time.perf_counter()
    out = extractor.batch(waves)
    return time.perf_counter() - t0, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kind", choices=["w2v-bert", "wav2vec2-layer", "wav2vec2-group"], default="w2v-bert",
                        help="model family and front-end")
    parser.add_argument("--batch", type=int, default=16, help="utterances per forward pass of the batched side")
    parser.add_argument("--n", type=int, default=48, help="utterances")
    parser.add_argument("--hidden", type=int, default=256, help="hidden size")
    parser.add_argument("--layers", type=int, default=4, help="transformer layers (the last one is extracted)")
    parser.add_argument("--min_s", type=float, default=2.0, help="shortest utterance, seconds")
    parser.add_argument("--max_s", type=float, default=8.0, help="longest utterance, seconds")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs of each side (best kept)")
    args = parser.parse_args()

    import torch
    from units_testutils import babble

    from s2s_plugin.units.features import HfFeatures

    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    waves = [(babble(float(s), seed=i), 16000) for i, s in enumerate(rng.uniform(args.min_s, args.max_s, args.n))]
    audio_s = sum(len(w) / sr for w, sr in waves)
    with tempfile.TemporaryDirectory() as d:
        build(args.kind, args.hidden, args.layers, d)
        one = HfFeatures(d, args.layers, batch_size=1)
        many = HfFeatures(d, args.layers, batch_size=args.batch)
        one.batch(waves[:2]), many.batch(waves[:2])  # load and warm up both
        best = {"one-by-one": float("inf"), "batched": float("inf")}
        outs = {}
        for _ in range(args.repeats):
            for name, ex in (("one-by-one", one), ("batched", many)):
                seconds, outs[name] = timed(ex, waves)
                best[name] = min(best[name], seconds)
        t0 = time.perf_counter()
        for w, sr in waves:  # the per-utterance feature extractor both sides run (fbank, normalisation)
            many._extractor(w, sampling_rate=sr, return_tensors="pt")
        fe_seconds = time.perf_counter() - t0
    diff = max(float(np.abs(a - b).max()) for a, b in zip(outs["one-by-one"], outs["batched"]))
    print(f"{args.kind}: hidden {args.hidden}, {args.layers} layers, {many.mode} batches; {args.n} utterances, "
          f"{audio_s:.1f} s of audio ({args.min_s:g}-{args.max_s:g} s each); {args.threads} torch thread(s); "
          f"{torch.__version__} on CPU; best of {args.repeats}")
    print(f"{'side':<11} {'batch':>5} {'seconds':>8} {'utt/s':>7} {'audio s/s':>9} {'RTF':>7}")
    for name, size in (("one-by-one", 1), ("batched", args.batch)):
        s = best[name]
        print(f"{name:<11} {size:>5} {s:>8.2f} {args.n / s:>7.2f} {audio_s / s:>9.2f} {s / audio_s:>7.4f}")
    print(f"of which the feature extractor ({type(many._extractor).__name__}, one utterance at a time on both "
          f"sides): {fe_seconds:.2f} s; model forward only: one-by-one {best['one-by-one'] - fe_seconds:.2f} s, "
          f"batched {best['batched'] - fe_seconds:.2f} s "
          f"({(best['one-by-one'] - fe_seconds) / max(best['batched'] - fe_seconds, 1e-9):.2f}x)")
    print(f"batched / one-by-one throughput: {best['one-by-one'] / best['batched']:.2f}x; "
          f"largest output difference {diff:.2e}")


if __name__ == "__main__":
    main()
