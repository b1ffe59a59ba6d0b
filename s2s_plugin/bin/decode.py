"""Stage 9: translate source speech units through the chain of thought.

    s2s decode --model_dir exp/s2st_scheduled/model --dir dump/test_fr --out exp/s2st_scheduled/decode_test_fr \\
        --config conf/decode.yaml [num_beams=4 ...] [--nj N --job J | --merge]

Reads ``DIR/units.<src>`` (the source language is the one of DIR that is not
``--tgt_lang``), builds each prompt ``<s_src> <lang> units <t_src>`` and decodes
T_src, T_tgt and the target units in batches. Writes ``OUT/hyp_text.<src>``,
``OUT/hyp_text.<tgt>`` and ``OUT/hyp_units.<tgt>`` (Kaldi text), plus
``OUT/decode.yaml`` (the settings). With ``--nj``/``--job`` each job writes
``OUT/split<N>/<J>/`` and ``--merge`` combines them.

MODEL_DIR is the standard transformers model directory stage 8 writes (or a
peft adapter on its base model, with ``lora.export: adapter``), holding also
``vocab.yaml`` and ``sequence.yaml``; a directory exported by an older version
(tokenizer in a subdirectory) decodes too, and ``s2s export`` rewrites it in
the standard layout.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from s2s_plugin.bin._args import add_job_arguments, add_overrides, check_job_arguments, verb_config

COMMAND = "decode"
HELP = "stage 9: decode source units to T_src, T_tgt and target units"
#: the config schema of each subcommand that takes --config ("" is the verb itself), for --print_config
CONFIG_SCHEMAS = {"": "s2s_plugin.decode.generate:DecodeConfig"}

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model_dir", type=Path, required=True, help="trained model dir (stage 8)")
    parser.add_argument("--dir", type=Path, required=True, help="dump/<set> with units.<src>")
    parser.add_argument("--out", type=Path, required=True, help="output dir, e.g. exp/<tag>/decode_<set>")
    parser.add_argument("--config", type=Path, default=None, help="YAML of DecodeConfig keys")
    add_overrides(parser, "num_beams=4")
    parser.add_argument("--tgt_lang", default="en", help="target language of the sets (default: en)")
    add_job_arguments(parser)


def _source_lang(d: Path, tgt: str) -> str:
    from s2s_plugin.errors import DataError

    # units.<lang> files only: not units.<lang>.info, nor the units.split<N>/ job dirs of stage 4
    langs = sorted(p.name[len("units."):] for p in d.glob("units.*")
                   if p.is_file() and "." not in p.name[len("units."):])
    src = [lang for lang in langs if lang != tgt]
    if len(src) != 1:
        raise DataError(f"{d}: expected units.<src> for exactly one source language (besides {tgt}), "
                        f"found units for {langs or 'none'}; run stage 4 first")
    return src[0]


def main(args: argparse.Namespace) -> int:
    import time

    import humanfriendly
    import torch
    import yaml

    from s2s_plugin.config import from_dict, load_yaml, to_dict
    from s2s_plugin.data.io import atomic_write, read_kaldi_text
    from s2s_plugin.data.jobs import merge_shards, shard_ids, write_shard
    from s2s_plugin.decode.generate import ChainDecoder, resolve_device_dtype
    from s2s_plugin.errors import ConfigError

    check_job_arguments(args)
    src = _source_lang(args.dir, args.tgt_lang)
    names = [f"hyp_text.{src}", f"hyp_text.{args.tgt_lang}", f"hyp_units.{args.tgt_lang}"]
    if args.merge:
        counts = merge_shards(args.out, args.nj, names, log_pattern=str(args.out / "logs" / "decode.JOB.log"))
        log.info("merged %d jobs into %s: %s", args.nj, args.out, counts)
        return 0
    cfg = verb_config(args)
    model_dir = args.model_dir
    has_model = (model_dir / "config.json").is_file() or (model_dir / "adapter_config.json").is_file()
    if not has_model or not (model_dir / "vocab.yaml").is_file():
        raise ConfigError(f"{model_dir}: not a trained model dir (needs config.json and the weights, or a LoRA "
                          "adapter_config.json, and vocab.yaml); run stage 8 first or point --model_dir at its output")
    from s2s_plugin.llm.sequence import Example, SequenceBuilder, SequenceConfig, Side
    from s2s_plugin.llm.vocab import Vocabulary

    vocab = Vocabulary.load(model_dir / "vocab.yaml")
    seq_cfg = from_dict(SequenceConfig, load_yaml(model_dir / "sequence.yaml"), str(model_dir / "sequence.yaml")) \
        if (model_dir / "sequence.yaml").is_file() else SequenceConfig()
    if seq_cfg.cot != cfg.cot:
        raise ConfigError(f"decode config has cot={cfg.cot} but the model was trained with cot={seq_cfg.cot}")
    builder = SequenceBuilder(vocab, seq_cfg)
    units = read_kaldi_text(args.dir / f"units.{src}")
    ids = sorted(units)
    if args.job is not None:
        ids = shard_ids(ids, args.nj, args.job)
    prompts = [builder.prompt(Example(u, Side(src, [int(x) for x in units[u].split()], []),
                                      Side(args.tgt_lang, [], []))) for u in ids]
    torch.manual_seed(cfg.seed)
    device, dtype = resolve_device_dtype(cfg.device, cfg.dtype)
    decoder = decoder_class(model_dir)
    model = decoder.load_trained(model_dir, device, dtype)
    log.info("decoding with llm_decoder '%s' on %s in %s", decoder.name, device, str(dtype).removeprefix("torch."))
    t0 = time.perf_counter()
    hyps = ChainDecoder(model, vocab, cfg).decode(prompts, progress=True)
    dt = time.perf_counter() - t0
    n_tok = sum(len(h.token_ids) for h in hyps)
    log.info("decoded %d utterances (%d tokens) in %s: %.1f tokens/s", len(ids), n_tok,
             humanfriendly.format_timespan(dt), n_tok / max(dt, 1e-9))
    files = {names[0]: {u: h.src_text for u, h in zip(ids, hyps)},
             names[1]: {u: h.tgt_text for u, h in zip(ids, hyps)},
             names[2]: {u: " ".join(map(str, h.units)) for u, h in zip(ids, hyps)}}
    if args.job is not None:
        write_shard(args.out, args.nj, args.job, files)
    else:
        from s2s_plugin.data.io import write_kaldi_text

        for name, entries in files.items():
            write_kaldi_text(args.out / name, entries)
    with atomic_write(args.out / "decode.yaml") as f:
        yaml.safe_dump({"model_dir": str(model_dir), "decode": to_dict(cfg)}, f, sort_keys=False)
    return 0


def decoder_class(model_dir: Path) -> type:
    """The llm_decoder plugin class that trained ``model_dir`` (its ``llm.yaml``; ``hf`` for older exports)."""
    from s2s_plugin.config import load_yaml
    from s2s_plugin.errors import ConfigError
    from s2s_plugin.registry import get_registry

    path = model_dir / "llm.yaml"
    block = load_yaml(path) if path.is_file() else {"name": "hf"}
    if not isinstance(block, dict) or not isinstance(block.get("name"), str):
        raise ConfigError(f"{path}: expected a mapping with the llm_decoder plugin's 'name', got {block!r}")
    # the registry has checked the class against s2s_plugin.protocols.LLMDecoder (load_trained included)
    return get_registry().get("llm_decoder", block["name"]).cls
