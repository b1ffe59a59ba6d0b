"""Decoding throughput: batched chain-of-thought generation versus one utterance at a time.

    python bench/decode.py [--batch 16] [--n 32] [--hidden 256] [--layers 4]

Both sides run the same ChainDecoder (transformers ``generate`` with KV cache
and the segment constraints) on the same prompts and model in one process;
the only difference is the batch size. Prints generated tokens per second of
each and their ratio (target: at least 5x at batch 16 on 2 cores).
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

import torch


def build(hidden: int, layers: int, n_units: int):
    import sentencepiece as spm

    from s2s_plugin.llm.hf import HFDecoder
    from s2s_plugin.llm.vocab import build_vocabulary

    d = tempfile.mkdtemp()
    words = "le la les un une chat chien maison rouge noir blanc petit grand mange voit the a cat dog house " \
            "red black white small big eats sees el los gato perro casa rojo negro come ve".split()
    g = torch.Generator().manual_seed(0)
    with open(os.path.join(d, "t.txt"), "w") as f:
        for _ in range(2000):
            f.write(" ".join(words[i] for i in torch.randint(0, len(words), (8,), generator=g).tolist()) + "\n")
    spm.SentencePieceTrainer.train(input=os.path.join(d, "t.txt"), model_prefix=os.path.join(d, "bpe"),
                                   vocab_size=200, model_type="bpe", bos_id=-1, eos_id=-1, num_threads=1,
                                   minloglevel=2)
    vocab = build_vocabulary({"kind": "sentencepiece", "path": os.path.join(d, "bpe.model")}, n_units=n_units,
                             langs=["fr"])
    cfg = {"model_type": "llama", "vocab_size": 200, "hidden_size": hidden, "intermediate_size": 4 * hidden,
           "num_hidden_layers": layers, "num_attention_heads": max(1, hidden // 64),
           "max_position_embeddings": 2048}
    torch.manual_seed(0)
    return HFDecoder(config=cfg, dropout=0.0).build(vocab).eval(), vocab


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--n", type=int, default=32, help="utterances to decode")
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--src_units", type=int, default=60, help="source units per prompt (about 1.2 s at 50 Hz)")
    args = ap.parse_args()
    from s2s_plugin.decode.generate import ChainDecoder, DecodeConfig

    torch.set_num_threads(os.cpu_count() or 1)
    model, vocab = build(args.hidden, args.layers, 256)
    g = torch.Generator().manual_seed(1)
    prompts = []
    for _ in range(args.n):
        n = args.src_units + int(torch.randint(-10, 10, (1,), generator=g))
        units = torch.randint(0, 256, (n,), generator=g).tolist()
        prompts.append([vocab.special("<s_src>"), vocab.special("<lang_fr>")]
                       + [vocab.unit_id(u) for u in units] + [vocab.special("<t_src>")])
    # a random model would end the speech segment at once: require a realistic number of units
    cfg = dict(max_text_tokens=16, max_unit_ratio=1.0, min_units=args.src_units - 10)
    results = {}
    for bs in (1, args.batch):
        dec = ChainDecoder(model, vocab, DecodeConfig(batch_size=bs, **cfg))
        dec.decode(prompts[:2])  # warm-up
        t0 = time.perf_counter()
        hyps = dec.decode(prompts)
        dt = time.perf_counter() - t0
        tokens = sum(len(h.token_ids) for h in hyps)
        results[bs] = (tokens / dt, tokens, dt)
    print(f"model: llama hidden={args.hidden} layers={args.layers}, vocab {len(vocab)}; {args.n} utterances, "
          f"~{args.src_units} source units each; torch threads {torch.get_num_threads()}")
    for bs, (rate, tokens, dt) in results.items():
        print(f"batch {bs:>3}: {tokens} tokens in {dt:6.2f} s = {rate:8.1f} tokens/s")
    ratio = results[args.batch][0] / results[1][0]
    print(f"batched / one-by-one: {ratio:.1f}x (target >= 5x) -> {'OK' if ratio >= 5 else 'BELOW TARGET'}")


if __name__ == "__main__":
    main()
