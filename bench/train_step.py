"""Stage-8 training throughput: our Lightning loop against a bare PyTorch loop, and the padding share.

    python bench/train_step.py [--steps 30] [--warmup 5] [--rounds 2] [--threads 1]
    python bench/train_step.py --dump dump/train_fr dump/train_es --vocab exp/vocab/vocab.yaml [--ctm oracle.{lang}.ctm]

Both loops train the same model (the embedded recipe's Llama shape from
conf/pretrain_text.yaml, same initial weights) on the same batches (the
DataModule's token-budget batches, in epoch-0 order) with the same sequence
building at batch time (scheduled interleaving, p from the step scheduler),
AdamW with warm-up/decay and gradient clipping. The Lightning loop is
``s2s_plugin.train.run.Run`` (the LightningModule through a Lightning Trainer,
with its TensorBoard logging and progress callback; no validation, no
checkpoint inside the timed steps). The loops alternate ``--rounds`` times and
the best round of each is compared, since other processes share the cores.
Tokens are the non-padding input tokens. Without ``--dump`` a synthetic
corpus is made (12 words and ~110 units per side, 50 units/s).

Also printed, per text ratio p (0.9, 0.6, 0.3, 0): the padding share, the
padded and real tokens per batch as a share of the token budget, and the
utterances per batch, of batches planned the old way (once, from the p = 0
lengths: ``TokenBudgetBatchSampler``) and the new way (each micro-batch at the
lengths its sequences have at its step: ``ScheduledBatchSampler``), both built
at p, side by side; one pass's worth of batches each, lengths counted by
``SequenceLengths`` (checked against built sequences). Then the padding share
of the batches the timed loops actually built at the scheduled p, with and
without bucketing. ``--padding_only`` prints the per-p table alone::

    python bench/train_step.py --padding_only [--dump ... --vocab ...]
"""
from __future__ import annotations

import argparse
import logging
import os
import random
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("S2S_PLUGIN_DISABLE_ENTRYPOINTS", "1")

import torch  # noqa: E402
import yaml  # noqa: E402

CONF = Path(__file__).resolve().parents[1] / "egs" / "mini_s2st" / "s2st1" / "conf"


def synthetic_dump(d: Path, n: int, n_units: int, seed: int = 0) -> None:
    """A dump dir of ``n`` fr -> en utterances with CTMs at 50 units/s."""
    rng = random.Random(seed)
    words = {lang: [f"{lang}{w}" for w in ("ab", "cde", "fgh", "ijkl", "mn", "opq", "rst", "uvwx", "yz", "bcd")]
             for lang in ("fr", "en")}
    d.mkdir(parents=True)
    files: dict[str, list[str]] = {k: [] for k in ("text.fr", "text.en", "units.fr", "units.en",
                                                   "align.fr.ctm", "align.en.ctm")}
    for i in range(n):
        utt = f"spk{i % 4}-fr-{i:05d}"
        n_words = rng.randint(6, 18)
        for lang in ("fr", "en"):
            ws = [rng.choice(words[lang]) for _ in range(n_words)]
            units, pos = [0] * 5, 5
            for w in ws:
                k = rng.randint(5, 12)
                files[f"align.{lang}.ctm"].append(f"{utt} 1 {pos / 50:.3f} {k / 50:.3f} {w}")
                units += [rng.randrange(1, n_units) for _ in range(k)] + [0] * rng.randint(0, 2)
                pos = len(units)
            files[f"text.{lang}"].append(f"{utt} {' '.join(ws)}")
            files[f"units.{lang}"].append(f"{utt} {' '.join(map(str, units + [0] * 5))}")
    for name, lines in files.items():
        (d / name).write_text("\n".join(lines) + "\n")
    for lang in ("fr", "en"):
        (d / f"units.{lang}.info").write_text(yaml.safe_dump({"frame_rate": 50.0, "n_clusters": n_units,
                                                              "dedup": False, "fit_id": "bench"}))


def make_vocab(dumps: list[Path], out: Path, n_units: int) -> Path:
    from s2s_plugin.bin.vocab import VocabConfig, build, read_texts, text_files

    build(VocabConfig(vocab_size=200), read_texts(text_files(dumps)), n_units, out)
    return out / "vocab.yaml"


def make_config(dumps: list[Path], vocab: Path, steps: int, max_tokens: int, bucketing: bool = True,
                ctm: str = "align.{lang}.ctm"):
    from s2s_plugin.config import from_dict, load_yaml
    from s2s_plugin.train.schema import TrainConfig

    data = load_yaml(CONF / "train_scheduled.yaml")
    data["llm"] = {"name": "hf", "config": load_yaml(CONF / "pretrain_text.yaml")["llm"]["config"], "dropout": 0.1}
    data["vocab"] = str(vocab)
    data["data"].update(train=[str(d) for d in dumps], valid=[], max_tokens=max_tokens, bucketing=bucketing, ctm=ctm)
    data["trainer"].update(max_steps=steps, val_check_interval=steps, save_every=steps, num_sanity_val_steps=0)
    data["optim"]["warmup_steps"] = 5
    return from_dict(TrainConfig, data, "bench config")


class Timer:
    """Times training steps after ``warmup`` steps and counts their non-padding tokens.

    Both wall-clock and CPU time (of this process) are kept: on a machine shared
    with other jobs, CPU time is the steadier measure of the work a loop does.
    """

    def __init__(self, warmup: int) -> None:
        self.warmup, self.tokens, self.steps = warmup, 0, 0
        self.t0 = self.c0 = self.seconds = self.cpu = 0.0

    def step(self, step: int, tokens: int) -> None:
        if step == self.warmup:
            self.t0, self.c0 = time.perf_counter(), time.process_time()
        elif step > self.warmup:
            self.tokens += tokens
            self.steps += 1
            self.seconds, self.cpu = time.perf_counter() - self.t0, time.process_time() - self.c0

    @property
    def rate(self) -> float:
        """Tokens per wall-clock second."""
        return self.tokens / self.seconds if self.seconds else 0.0

    @property
    def cpu_rate(self) -> float:
        """Tokens per CPU second."""
        return self.tokens / self.cpu if self.cpu else 0.0


def lightning_loop(cfg, exp: Path, warmup: int) -> Timer:
    import lightning as L

    from s2s_plugin.train.run import Run

    timer = Timer(warmup)

    class _Cb(L.Callback):
        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            self._n = int(batch["attention_mask"].sum())

        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            timer.step(trainer.global_step, self._n)  # global_step: optimiser steps done

    Run(cfg, exp, callbacks=[_Cb()]).fit(average=False)
    return timer


def bare_loop(cfg, warmup: int) -> tuple[Timer, float, int, dict]:
    """The same work without Lightning: build, forward, NLL, backward, clip, AdamW, LR step."""
    import lightning as L
    import torch.nn.functional as F

    from s2s_plugin.llm.sequence import IGNORE, collate
    from s2s_plugin.llm.vocab import Vocabulary
    from s2s_plugin.registry import get_registry
    from s2s_plugin.train.datamodule import S2SDataModule, S2STTask
    from s2s_plugin.train.module import lr_factor

    L.seed_everything(cfg.trainer.seed, verbose=False)
    vocab = Vocabulary.load(cfg.vocab)
    model = get_registry().build("llm_decoder", cfg.llm).build(vocab)
    sched = get_registry().build("interleave_scheduler", cfg.scheduler)
    task = S2STTask(cfg.data, cfg.sequence, vocab)
    dm = S2SDataModule(task, cfg.data, seed=cfg.trainer.seed, schedule=sched.value, max_steps=cfg.trainer.max_steps)
    dm.setup()
    o = cfg.optim
    opt = torch.optim.AdamW(model.parameters(), lr=o.lr, betas=tuple(o.betas), eps=o.eps, weight_decay=o.weight_decay)
    lr = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, o.warmup_steps, cfg.trainer.max_steps,
                                                                      o.decay, o.min_lr_ratio))
    timer, slots, real = Timer(warmup), 0, 0
    model.train()
    for step, raw in enumerate(dm.train_dataloader()):
        if step == cfg.trainer.max_steps:
            break
        batch = collate(task.build(raw.items, step=step, p=sched.value(step)), pad_id=vocab.pad_id)
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], use_cache=False).logits
        labels = batch["labels"][:, 1:]
        nll = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), labels.reshape(-1),
                              ignore_index=IGNORE, reduction="sum")
        (nll / (labels != IGNORE).sum()).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.trainer.gradient_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        lr.step()
        n = int(batch["attention_mask"].sum())
        slots, real = slots + batch["attention_mask"].numel(), real + n
        timer.step(step + 1, n)
    return timer, 1.0 - real / slots, sum(p.numel() for p in model.parameters()), {"items": len(dm.train_items)}


def _batch_stats(rows: list[tuple[list[int], list[int]]], budget: int) -> dict[str, float]:
    """Padding share, padded and real tokens per budget, items per batch of ``(items, lengths)`` rows."""
    slots = sum(len(b) * max(n) for b, n in rows)
    real = sum(sum(n) for _, n in rows)
    return {"padding": 1.0 - real / slots, "padded": slots / (budget * len(rows)), "real": real / (budget * len(rows)),
            "items": sum(len(b) for b, _ in rows) / len(rows), "batches": len(rows)}


def padding_by_p(cfg, ps: tuple[float, ...] = (0.9, 0.6, 0.3, 0.0)) -> tuple[int, dict[float, dict]]:
    """Per p, the stats of one pass's worth of batches planned the old way and the new way, built at p.

    Old: ``TokenBudgetBatchSampler`` on the p = 0 lengths (what stage 8 did before), epoch 0's
    batch j built at step j. New: ``ScheduledBatchSampler`` at a constant p, micro-batch n built at
    step n. The first batch of each is also built by the sequence builder, to check the counted lengths.
    """
    import itertools

    from s2s_plugin.llm.vocab import Vocabulary
    from s2s_plugin.train.datamodule import S2STTask
    from s2s_plugin.train.sampler import ScheduledBatchSampler, TokenBudgetBatchSampler

    task = S2STTask(cfg.data, cfg.sequence, Vocabulary.load(cfg.vocab))
    items = task.load("train")
    lengths = task.lengths(items)
    everyone = range(len(items))
    l0, l1 = lengths.at(everyone, 0, 0.0), lengths.at(everyone, 0, 1.0)
    budget, seed, bucketing = cfg.data.max_tokens, cfg.trainer.seed, cfg.data.bucketing
    old = TokenBudgetBatchSampler(l0, budget, cfg.data.max_batch_size, bucketing=bucketing, seed=seed)
    new = ScheduledBatchSampler(l0, l1, lengths.at, lambda step: 0.0, budget, n_batches=1,
                                max_batch_size=cfg.data.max_batch_size, bucketing=bucketing, seed=seed)
    out = {}
    for p in ps:
        old_rows = [(b, lengths.at(b, j, p)) for j, b in enumerate(old.global_batch(0, j) for j in range(len(old)))]
        new_rows, seen = [], 0
        t0 = time.process_time()
        for planned in itertools.takewhile(lambda _: seen < len(items), new.stream(p)):
            new_rows.append((planned.items, planned.lengths))
            seen += len(planned.items)
        plan_ms = 1e3 * (time.process_time() - t0) / len(new_rows)
        for j, (b, n) in ((0, old_rows[0]), (0, new_rows[0])):
            built = [len(x.input_ids) for x in task.build([items[i] for i in b], step=j, p=p)]
            assert built == n, f"counted lengths {n} differ from the built sequences' {built}"
        out[p] = {"old": _batch_stats(old_rows, budget), "new": _batch_stats(new_rows, budget), "plan_ms": plan_ms}
    return len(items), out


def print_padding(n_items: int, budget: int, table: dict[float, dict]) -> None:
    print(f"batches planned once at p = 0 lengths (old) vs at the current p (new), built at p; {n_items} "
          f"utterances, budget {budget} tokens, one pass's worth of batches each")
    print(f"{'p':>4} | {'padding share':^15} | {'padded tok/budget':^17} | {'real tok/budget':^15} | "
          f"{'utts/batch':^13} | {'batches':^9} | planning")
    print(f"{'':>4} | {'old':>7}{'new':>8} | {'old':>8}{'new':>9} | {'old':>7}{'new':>8} | {'old':>6}{'new':>7} | "
          f"{'old':>4}{'new':>5} | CPU-ms/batch (new)")
    for p, r in table.items():
        o, n = r["old"], r["new"]
        print(f"{p:>4g} | {o['padding']:>7.1%}{n['padding']:>8.1%} | {o['padded']:>8.0%}{n['padded']:>9.0%} | "
              f"{o['real']:>7.0%}{n['real']:>8.0%} | {o['items']:>6.1f}{n['items']:>7.1f} | "
              f"{o['batches']:>4}{n['batches']:>5} | {r['plan_ms']:>8.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=30, help="optimiser steps per loop (timed after --warmup)")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3, help="alternations of the two loops")
    ap.add_argument("--max_tokens", type=int, default=2400)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--dump", nargs="*", type=Path, default=None, help="dump dirs (default: a synthetic corpus)")
    ap.add_argument("--vocab", type=Path, default=None, help="vocabulary of --dump")
    ap.add_argument("--ctm", default="align.{lang}.ctm", help="CTM name in --dump dirs (e.g. oracle.{lang}.ctm)")
    ap.add_argument("--padding_only", action="store_true", help="print the per-p padding table only (no timing)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)
    for name in ("lightning", "lightning.pytorch", "s2s_plugin"):
        logging.getLogger(name).setLevel(logging.WARNING)
    import warnings

    warnings.filterwarnings("ignore")
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        if args.dump:
            dumps, vocab = args.dump, args.vocab
        else:
            dumps = [tmp / "train_fr"]
            synthetic_dump(dumps[0], 400, n_units=300)
            vocab = make_vocab(dumps, tmp / "vocab", 300)
        cfg = make_config(dumps, vocab, args.steps + args.warmup, args.max_tokens, ctm=args.ctm)
        n_items, table = padding_by_p(cfg)
        if args.padding_only:
            print_padding(n_items, args.max_tokens, table)
            return
        flat = make_config(dumps, vocab, args.steps + args.warmup, args.max_tokens, bucketing=False, ctm=args.ctm)
        results: dict[str, list[Timer]] = {"bare": [], "lightning": []}
        pad_built = {}
        for r in range(args.rounds):
            timer, pad_built["bucketed"], n_params, data = bare_loop(cfg, args.warmup)
            results["bare"].append(timer)
            results["lightning"].append(lightning_loop(cfg, tmp / f"exp{r}", args.warmup))
        flat_timer, pad_built["unbucketed"], _, _ = bare_loop(flat, args.warmup)
    best = {k: max(v, key=lambda t: t.cpu_rate) for k, v in results.items()}
    c = cfg.llm["config"]
    print(f"model: {c['model_type']} hidden {c['hidden_size']} x {c['num_hidden_layers']} layers, "
          f"{n_params / 1e6:.2f}M parameters; {data['items']} utterances, batches of <= {args.max_tokens} "
          f"tokens; {args.steps} timed steps after {args.warmup}, best of {args.rounds} rounds, "
          f"{torch.get_num_threads()} thread(s)")
    print(f"{'loop':<34}{'tok/CPU-s':>10}{'tok/s':>8}{'CPU-s/step':>11}{'s/step':>8}   rounds (tokens per CPU second)")
    for name, key in (("bare PyTorch loop", "bare"), ("stage-8 loop (Lightning Trainer)", "lightning")):
        t = best[key]
        print(f"{name:<34}{t.cpu_rate:>10.0f}{t.rate:>8.0f}{t.cpu / t.steps:>11.4f}{t.seconds / t.steps:>8.3f}   "
              + " ".join(f"{x.cpu_rate:.0f}" for x in results[key]))
    t = flat_timer
    print(f"{'bare loop, unbucketed batches':<34}{t.cpu_rate:>10.0f}{t.rate:>8.0f}{t.cpu / t.steps:>11.4f}"
          f"{t.seconds / t.steps:>8.3f}")
    overhead = best["bare"].cpu_rate / best["lightning"].cpu_rate - 1.0
    print(f"Lightning loop overhead: {overhead:+.1%} CPU time per token (target: under 10%)")
    print_padding(n_items, args.max_tokens, table)
    print(f"padding share of the batches the timed loops built at the scheduled p ({args.steps + args.warmup} "
          f"steps, planned at the current p): bucketed {pad_built['bucketed']:.1%}, "
          f"unbucketed {pad_built['unbucketed']:.1%}")


if __name__ == "__main__":
    main()
