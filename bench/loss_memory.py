"""Peak memory and time of one training step's loss: full logits against ``trainer.loss_chunk_tokens``.

    python bench/loss_memory.py [--vocab 32000] [--tokens 4096] [--hidden 256] [--chunks 0 1024]

A small Llama-shaped model (2 layers, ``--hidden`` wide) with a large output
vocabulary, as when a 128k-token LLM tokenizer meets a short sequence budget:
one forward and backward of stage 8's loss (S2STModule.segment_nll) on a batch
of ``--tokens`` tokens, every position after the first quarter of each row
carrying a label (the loss starts after the source speech, as in training).
Each setting runs in a fresh process and reports the memory the step added
(peak RSS minus RSS before the step) and its time; chunk 0 is the full-logits
path. The printed ratio is full / chunked peak: the logits part of the step
shrinks from tokens x vocab x (4 + 4) bytes (fp32 logits and their upcast copy,
and their gradients) to one chunk's worth. One thread, CPU.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _proc import peak_rss, rss, run_fresh  # noqa: E402

ROWS = 4


def worker(chunk: int, vocab: int, tokens: int, hidden: int) -> dict:
    """One loss forward + backward in this (fresh) process."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from s2s_plugin.llm.sequence import IGNORE, SRC_SPEECH, TGT_SPEECH
    from s2s_plugin.train.schema import OptimConfig
    from s2s_plugin.train.module import S2STModule

    torch.manual_seed(0)
    torch.set_num_threads(1)
    cfg = LlamaConfig(vocab_size=vocab, hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=tokens,
                      tie_word_embeddings=False)
    model = LlamaForCausalLM(cfg)
    module = S2STModule(model, task=None, pad_id=0, optim=OptimConfig(), max_steps=1, loss_chunk_tokens=chunk)
    length = tokens // ROWS
    ids = torch.randint(1, vocab, (ROWS, length))
    labels = ids.clone()
    labels[:, : length // 4] = IGNORE
    segments = torch.full_like(ids, TGT_SPEECH)
    segments[:, : length // 4] = SRC_SPEECH
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels, "segments": segments}
    base = rss()
    t0 = time.perf_counter()
    nll, stats = module.segment_nll(batch)
    (nll / stats[:, 1].sum()).backward()
    seconds = time.perf_counter() - t0
    return {"chunk": chunk, "loss": float(nll) / float(stats[:, 1].sum()), "seconds": seconds,
            "added_bytes": max(peak_rss() - base, 0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vocab", type=int, default=32000, help="output vocabulary")
    parser.add_argument("--tokens", type=int, default=4096, help="tokens in the batch (4 rows)")
    parser.add_argument("--hidden", type=int, default=256, help="model width")
    parser.add_argument("--chunks", type=int, nargs="+", default=[0, 1024], help="loss_chunk_tokens; 0 = full")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        print(json.dumps(worker(args.worker, args.vocab, args.tokens, args.hidden)))
        return
    from humanfriendly import format_size

    print(f"vocab {args.vocab:,}, {args.tokens:,} tokens in {ROWS} rows (3/4 with a label), hidden {args.hidden}; "
          f"one thread; each setting in a fresh process; memory = peak RSS added by the loss step")
    rows = [run_fresh(__file__, ["--worker", str(c), "--vocab", str(args.vocab), "--tokens", str(args.tokens),
                                 "--hidden", str(args.hidden)]) for c in args.chunks]
    full = next((r for r in rows if r["chunk"] == 0), rows[0])
    print(f"{'loss_chunk_tokens':>17} | {'peak added':>10} | {'time':>6} | {'loss':>8} | full / this (memory)")
    for r in rows:
        print(f"{r['chunk'] or 'full':>17} | {format_size(r['added_bytes']):>10} | {r['seconds']:>5.2f}s | "
              f"{r['loss']:>8.4f} | {full['added_bytes'] / max(r['added_bytes'], 1):>6.1f}x")


if __name__ == "__main__":
    main()
