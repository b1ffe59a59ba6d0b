"""Speech-text similarity of the same words in the last layer, per checkpoint, for systems side by side.

    s2s similarity exp/s2st_baseline exp/s2st_scheduled --out exp/compare/similarity
    s2s similarity exp/s2st_scheduled --data dump/dev_fr --side tgt --max_utts 50 --out exp/s2st_scheduled/plots/sim_tgt

Run it in the recipe directory the systems were trained in (their config's
paths are relative to it). For every checkpoint in EXP/checkpoints/ (the
best-N, last.ckpt, and the step*.ckpt that trainer.keep_every keeps) and the
model each run starts from (step 0), the model reads each utterance twice,
each time in the layout it is trained on:

  speech input  the side's speech segment as pure units (p = 0, as at inference);
                source side: <s_src> <lang_xx> u1 .. uN <t_src>
  text input    the same sequence with every word's unit span replaced by the
                word's BPE tokens: the interleaver's output at p = 1, one word
                per span. Units outside any word (pauses, silence) stay, as in
                training.

The two inputs share everything but the modality of the words: the same
segment after the same prompt tokens, the same words in the same order. (The
text is put into the speech segment, not read off the chain of thought's
T_src, for that reason; a baseline never reads text there, which is what it
is compared on.) With --side tgt the segment is the target speech, read after
T_src and T_tgt.

A word's unit positions come from the word alignment (DIR/align.<lang>.ctm,
or --ctm) at the units' frame rate (DIR/units.<lang>.info), as in training.
Its speech and text vectors are the last hidden layer (after the final norm)
averaged over those positions and over its BPE tokens; their cosine is the
word's similarity. Per checkpoint: the mean over utterances of their words'
mean cosine, its sd over utterances, the mean over all words, and a control,
the speech of word i against the text of word i+1 ("next word").

Writes OUT.png (similarity over training steps per system, and each system's
text ratio p), OUT.tsv (one row per system and checkpoint) and OUT.json (the
same with the command and settings). Checkpoints are read with
torch.load(weights_only=True).
"""
from __future__ import annotations

import argparse
import shlex
from pathlib import Path

COMMAND = "similarity"
HELP = "speech-text similarity of the same words in the last layer, over training checkpoints"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("exps", nargs="+", type=Path, metavar="EXP",
                        help="stage-8 exp dirs (with config.yaml and checkpoints/), one per system")
    parser.add_argument("--out", type=Path, required=True,
                        help="output name prefix: writes OUT.png, OUT.tsv and OUT.json, e.g. exp/compare/similarity")
    parser.add_argument("--data", nargs="+", type=Path, default=None, metavar="DIR",
                        help="dump/<set> dirs to measure on (default: the first system's data.valid)")
    parser.add_argument("--side", choices=["src", "tgt"], default="src",
                        help="the source speech (input) or the target speech (output) segment")
    parser.add_argument("--ctm", default=None,
                        help="CTM name pattern in each DIR (default align.{lang}.ctm; e.g. oracle.{lang}.ctm)")
    parser.add_argument("--max_utts", type=int, default=200,
                        help="per DIR, the first N utterances in id order (default 200; 0: all)")
    parser.add_argument("--batch_size", type=int, default=8, help="sequences per forward pass")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (a GPU when torch sees one)")
    parser.add_argument("--dtype", choices=["float32", "bfloat16", "float16", "auto"], default="float32",
                        help="weights and activations (auto: bfloat16 on a GPU, float32 on the CPU)")
    parser.add_argument("--skip_init", action="store_true", help="do not measure the model a run starts from")
    parser.add_argument("--skip_bad", action="store_true",
                        help="leave out utterances without usable word spans instead of stopping")


def main(args: argparse.Namespace) -> int:
    from s2s_plugin.eval.similarity import output_paths, run_similarity

    command = shlex.join(["s2s", COMMAND, *map(str, args.exps), "--out", str(args.out)]
                         + (["--data", *map(str, args.data)] if args.data else [])
                         + ["--side", args.side, "--max_utts", str(args.max_utts)]
                         + (["--ctm", args.ctm] if args.ctm else [])
                         + (["--skip_init"] if args.skip_init else []) + (["--skip_bad"] if args.skip_bad else []))
    result = run_similarity(args.exps, args.out, data=args.data, side=args.side, ctm=args.ctm,
                            max_utts=args.max_utts or None, batch_size=args.batch_size, device=args.device,
                            dtype=args.dtype, include_init=not args.skip_init, skip_bad=args.skip_bad,
                            command=command)
    print(f"speech-text similarity, {args.side} side, {result['n_utts']} utterances "
          "(mean +- sd over utterances; control: next word)")
    for name, system in result["systems"].items():
        for pt in system["points"]:
            ctrl = "NA" if pt["mismatched"] is None else f"{pt['mismatched']:.3f}"
            print(f"  {name:24s} step {pt['step']:>7d}  {pt['mean']:.3f} +- {pt['std']:.3f}  control {ctrl}  "
                  f"({pt['checkpoint']})")
    paths = output_paths(args.out)
    print(f"wrote {paths['png']}, {paths['tsv']}, {paths['json']}")
    return 0
