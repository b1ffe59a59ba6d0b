"""Stage 9, decoding: translate the source units of a dump dir through the chain of thought.

    from s2s_plugin.decode.stage import decode_set
    from s2s_plugin.jobs import JobMode

    cfg = load_config(DecodeConfig, "conf/decode.yaml", ["num_beams=4"])
    decode_set("exp/s2st_scheduled/model", "dump/test_fr", "exp/s2st_scheduled/decode_test_fr", cfg)
    # or as 4 jobs through a job runner (logs: OUT/logs/decode.<J>.log), then the merge
    decode_set(model_dir, dump_dir, out, cfg, mode=JobMode(4, cmd="utils/run.pl", argv=[...]))

Reads ``DIR/units.<src>`` (the source language is the one of DIR that is not
``tgt_lang``), builds each prompt ``<s_src> <lang> units <t_src>`` and decodes
T_src, T_tgt and the target units in batches with the llm_decoder plugin that
trained the model (its ``llm.yaml``). Writes ``OUT/hyp_text.<src>``,
``OUT/hyp_text.<tgt>`` and ``OUT/hyp_units.<tgt>`` (Kaldi text), plus
``OUT/decode.yaml`` (the settings). Job ``J`` of ``N`` decodes the contiguous
part ``J`` of the sorted ids into ``OUT/decode.split<N>/<J>/`` with its
``done.json`` last (:class:`s2s_plugin.jobs.Shards`); the merge checks every job
ran with the same model and settings and concatenates them.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from s2s_plugin.data.io import PathLike, atomic_write, read_kaldi_text, write_kaldi_text
from s2s_plugin.decode.generate import DecodeConfig
from s2s_plugin.errors import ConfigError
from s2s_plugin.jobs import JobMode, Shards, run_stage, shard
from s2s_plugin.llm.examples import detect_source_lang

logger = logging.getLogger(__name__)


def shards(out: PathLike, nj: int) -> Shards:
    """The decoding jobs of ``out``: ``OUT/decode.split<nj>/<J>/``, logs in ``OUT/logs/decode.<J>.log``."""
    return Shards(Path(out), "decode", nj, log=str(Path(out) / "logs" / "decode.JOB.log"), what="decode")


def output_names(src: str, tgt: str) -> list[str]:
    """The files a decode writes: T_src, T_tgt and the target units."""
    return [f"hyp_text.{src}", f"hyp_text.{tgt}", f"hyp_units.{tgt}"]


def _options(model_dir: Path, cfg: DecodeConfig | None, src: str) -> dict[str, Any]:
    """What every decoding job and the merge must agree on (the settings only when the merge has them)."""
    from s2s_plugin.config import to_dict

    out = {"model": str(model_dir), "source language": src}
    if cfg is not None:
        out["decode config"] = to_dict(cfg)
    return out


def check_model_dir(model_dir: Path) -> None:
    """Raise a ConfigError unless ``model_dir`` holds a trained model and its vocabulary."""
    has_model = (model_dir / "config.json").is_file() or (model_dir / "adapter_config.json").is_file()
    if not has_model or not (model_dir / "vocab.yaml").is_file():
        raise ConfigError(f"{model_dir}: not a trained model dir (needs config.json and the weights, or a LoRA "
                          "adapter_config.json, and vocab.yaml); run stage 8 first or point --model_dir at its output")


def decoder_class(model_dir: Path) -> type:
    """The llm_decoder plugin class that trained ``model_dir`` (its ``llm.yaml``; ``hf`` for older exports)."""
    from s2s_plugin.config import load_yaml
    from s2s_plugin.registry import get_registry

    path = model_dir / "llm.yaml"
    block = load_yaml(path) if path.is_file() else {"name": "hf"}
    if not isinstance(block, dict) or not isinstance(block.get("name"), str):
        raise ConfigError(f"{path}: expected a mapping with the llm_decoder plugin's 'name', got {block!r}")
    # the registry has checked the class against s2s_plugin.protocols.LLMDecoder (load_trained included)
    return get_registry().get("llm_decoder", block["name"]).cls


def decode_job(model_dir: PathLike, dump_dir: PathLike, out: PathLike, cfg: DecodeConfig, tgt_lang: str = "en",
               nj: int = 1, job: int | None = None) -> dict[str, dict[str, str]]:
    """Decode part ``job`` of ``nj`` of ``dump_dir`` (every utterance with ``job=None``, written to ``out``).

    Returns:
        The hypotheses per output file name (:func:`output_names`).

    Raises:
        ConfigError: not a trained model dir, or a config that disagrees with the model (``cot``).
        DataError: no single source language with units in ``dump_dir``.
    """
    import humanfriendly
    import torch
    import yaml

    from s2s_plugin.config import from_dict, load_yaml, to_dict
    from s2s_plugin.decode.generate import ChainDecoder, resolve_device_dtype
    from s2s_plugin.llm.sequence import Example, SequenceBuilder, SequenceConfig, Side
    from s2s_plugin.llm.vocab import Vocabulary

    model_dir, dump_dir, out = Path(model_dir), Path(dump_dir), Path(out)
    src = detect_source_lang(dump_dir, tgt_lang)
    names = output_names(src, tgt_lang)
    check_model_dir(model_dir)
    split = shards(out, nj)
    if job is not None:
        split.begin(job)
    vocab = Vocabulary.load(model_dir / "vocab.yaml")
    seq_cfg = from_dict(SequenceConfig, load_yaml(model_dir / "sequence.yaml"), str(model_dir / "sequence.yaml")) \
        if (model_dir / "sequence.yaml").is_file() else SequenceConfig()
    if seq_cfg.cot != cfg.cot:
        raise ConfigError(f"decode config has cot={cfg.cot} but the model was trained with cot={seq_cfg.cot}")
    builder = SequenceBuilder(vocab, seq_cfg)
    units = read_kaldi_text(dump_dir / f"units.{src}")
    all_ids = sorted(units)
    ids = all_ids if job is None else shard(all_ids, nj, job)
    prompts = [builder.prompt(Example(u, Side(src, [int(x) for x in units[u].split()], []),
                                      Side(tgt_lang, [], []))) for u in ids]
    torch.manual_seed(cfg.seed)
    device, dtype = resolve_device_dtype(cfg.device, cfg.dtype)
    decoder = decoder_class(model_dir)
    model = decoder.load_trained(model_dir, device, dtype)
    logger.info("decoding with llm_decoder '%s' on %s in %s", decoder.name, device,
                str(dtype).removeprefix("torch."))
    t0 = time.perf_counter()
    hyps = ChainDecoder(model, vocab, cfg).decode(prompts, progress=True)
    dt = time.perf_counter() - t0
    n_tok = sum(len(h.token_ids) for h in hyps)
    logger.info("decoded %d utterances (%d tokens) in %s: %.1f tokens/s", len(ids), n_tok,
                humanfriendly.format_timespan(dt), n_tok / max(dt, 1e-9))
    files = {names[0]: {u: h.src_text for u, h in zip(ids, hyps)},
             names[1]: {u: h.tgt_text for u, h in zip(ids, hyps)},
             names[2]: {u: " ".join(map(str, h.units)) for u, h in zip(ids, hyps)}}
    for name, entries in files.items():
        write_kaldi_text((out if job is None else split.dir(job)) / name, entries)
    with atomic_write(out / "decode.yaml") as f:
        yaml.safe_dump({"model_dir": str(model_dir), "decode": to_dict(cfg)}, f, sort_keys=False)
    if job is not None:  # last: marks the job complete
        split.finish(job, ids, _options(model_dir, cfg, src), {"tokens": n_tok, "seconds": dt})
    return files


def merge_decodes(model_dir: PathLike, dump_dir: PathLike, out: PathLike, tgt_lang: str = "en", nj: int = 1,
                  cfg: DecodeConfig | None = None) -> dict[str, int]:
    """Concatenate the ``nj`` decoding jobs into ``out``; every job must have finished with the same settings.

    Args:
        cfg: the settings the jobs must have used; None: they must only agree with each other.

    Returns:
        Number of entries per merged file.

    Raises:
        DataError: a job that did not finish (naming its log), or ran on other utterances, with
            another model or other settings.
    """
    model_dir, dump_dir, out = Path(model_dir), Path(dump_dir), Path(out)
    src = detect_source_lang(dump_dir, tgt_lang)
    split = shards(out, nj)
    split.check(sorted(read_kaldi_text(dump_dir / f"units.{src}")), _options(model_dir, cfg, src))
    counts = {}
    for name in output_names(src, tgt_lang):
        merged: dict[str, str] = {}
        for j in range(1, nj + 1):
            merged.update(read_kaldi_text(split.dir(j) / name, allow_empty_value=True))
        write_kaldi_text(out / name, merged)
        counts[name] = len(merged)
    logger.info("merged %d jobs into %s: %s", nj, out, counts)
    return counts


def decode_set(model_dir: PathLike, dump_dir: PathLike, out: PathLike, cfg: DecodeConfig | None,
               tgt_lang: str = "en", mode: JobMode | None = None) -> dict[str, Any] | None:
    """Decode ``dump_dir`` into ``out``; ``mode`` says how (:func:`s2s_plugin.jobs.run_stage`).

    Without ``mode`` (or with neither ``job``, ``merge`` nor ``cmd``) every utterance is
    decoded at once in this process, whatever ``nj``.

    Args:
        cfg: the search settings; None only for a merge that does not know them.

    Returns:
        The hypotheses (in this process), the merged counts (a merge), or None (one job).
    """
    mode = mode or JobMode()
    if cfg is None and not mode.merge:
        raise ConfigError("decode: the search settings are needed to decode")
    if mode.job is None and not mode.merge and mode.cmd is None:
        return decode_job(model_dir, dump_dir, out, cfg, tgt_lang)  # type: ignore[arg-type]
    if mode.cmd is not None:
        check_model_dir(Path(model_dir))  # before any job starts
    split = shards(out, mode.nj)
    return run_stage(mode, [split], lambda j: decode_job(model_dir, dump_dir, out, cfg, tgt_lang, mode.nj, j),
                     lambda: merge_decodes(model_dir, dump_dir, out, tgt_lang, mode.nj, cfg), split.log)


__all__ = ["decode_set", "decode_job", "merge_decodes", "decoder_class", "output_names", "shards"]
