"""Paired bootstrap (s2s_plugin.eval.stats), the verdict rules, and `s2s compare --results`."""
from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from s2s_plugin.bin.main import main
from s2s_plugin.config import load_config
from s2s_plugin.errors import DataError
from s2s_plugin.eval.metrics import (bleu_from_stats, corpus_bleu, utterance_bleu_stats, utterance_word_errors,
                                     word_error_rate)
from s2s_plugin.eval.replication import git_commit, ref_dump_of, resource_order, scoring_dir
from s2s_plugin.eval.score import ScoreConfig, run_stage
from s2s_plugin.eval.stats import (Bootstrap, Delta, claim_a, claim_b, claim_c, claim_d, corpus_score, interval,
                                   utterance_stats)

WORDS = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa".split()


def sentences(n: int, length: int = 6) -> list[str]:
    """``n`` different sentences of ``length`` words."""
    rng = np.random.default_rng(n)
    return [" ".join(rng.choice(WORDS, size=length)) for _ in range(n)]


def garble(text: str, k: int = 1) -> str:
    """``text`` with its first ``k`` words replaced (``k`` substitutions, same length)."""
    words = text.split()
    return " ".join(["zulu"] * k + words[k:])


# -- sufficient statistics ------------------------------------------------------------
def test_bleu_from_summed_statistics_is_sacrebleu_corpus_bleu_on_any_resample():
    refs = sentences(30)
    hyps = [garble(r, i % 3) if i % 4 else " ".join(r.split()[:3]) for i, r in enumerate(refs)]
    stats = utterance_bleu_stats(hyps, refs)
    assert stats.shape == (30, 10)
    assert bleu_from_stats(stats.sum(axis=0)) == pytest.approx(corpus_bleu(hyps, refs).score, abs=1e-9)
    rng = np.random.default_rng(0)
    for _ in range(5):  # a resample with repeats: summed rows = corpus_score of the resampled texts
        idx = rng.integers(0, 30, size=30)
        want = corpus_bleu([hyps[i] for i in idx], [refs[i] for i in idx]).score
        assert bleu_from_stats(stats[idx].sum(axis=0)) == pytest.approx(want, abs=1e-9)


def test_utterance_word_errors_sum_to_the_corpus_wer():
    refs = ["a b c d", "e f g", "", "h i"]
    hyps = ["a x c d y", "e g", "p q", ""]
    counts = utterance_word_errors(hyps, refs)
    # sub, del, ins, ref words per utterance
    assert counts.tolist() == [[1, 0, 1, 4], [0, 1, 0, 3], [0, 0, 2, 0], [0, 2, 0, 2]]
    w = word_error_rate(hyps, refs)
    assert (w.substitutions, w.deletions, w.insertions, w.ref_words) == (1, 3, 3, 9)
    stats = utterance_stats("wer", hyps, refs)
    assert stats.tolist() == [[2, 4], [1, 3], [2, 0], [2, 2]]
    assert corpus_score("wer", stats) == pytest.approx(w.wer)


# -- the bootstrap --------------------------------------------------------------------
def test_identical_systems_give_zero_with_an_interval_at_zero():
    refs = sentences(40)
    hyps = [garble(r, i % 3) for i, r in enumerate(refs)]
    a = utterance_stats("bleu", hyps, refs)
    d = Bootstrap(200, seed=1).paired_delta("bleu", {1: a}, {1: a.copy()}, key="test_fr")
    assert d.delta == 0 and d.lo == 0 and d.hi == 0 and d.sign == 0


def test_symmetric_systems_give_an_interval_that_includes_zero():
    """A is right on the first half and wrong on the second, B the other way round: same corpus score."""
    refs = sentences(40)
    a_hyps = [r if i < 20 else garble(r, 3) for i, r in enumerate(refs)]
    b_hyps = [garble(r, 3) if i < 20 else r for i, r in enumerate(refs)]
    boot = Bootstrap(1000, seed=7)
    for kind in ("bleu", "wer"):
        a, b = utterance_stats(kind, a_hyps, refs), utterance_stats(kind, b_hyps, refs)
        d = boot.paired_delta(kind, {1: a}, {1: b}, key="test_fr")
        assert d.delta == pytest.approx(0.0, abs=1e-9)
        assert d.lo < 0 < d.hi and d.sign == 0, kind


def test_better_on_every_utterance_gives_an_interval_above_zero():
    refs = sentences(40)
    worse = [garble(r, 2) for r in refs]
    a, b = utterance_stats("bleu", worse, refs), utterance_stats("bleu", refs, refs)
    d = Bootstrap(1000, seed=3).paired_delta("bleu", {1: a}, {1: b}, key="test_pt")
    assert d.delta == pytest.approx(100.0 - corpus_bleu(worse, refs).score)
    assert d.lo > 0 and d.sign == 1
    assert d.samples.shape == (1000,) and d.samples.min() > 0


def test_pairing_cancels_what_the_systems_share():
    """B makes exactly A's errors plus one per 5-word utterance: B - A is +20 WER on every resample,
    although A's own WER moves from resample to resample."""
    refs = [" ".join(WORDS[i % 10:i % 10 + 5]) for i in range(30)]
    a_hyps = [garble(r, 2) if i % 3 == 0 else r for i, r in enumerate(refs)]
    b_hyps = [garble(h, 3) if i % 3 == 0 else garble(h, 1) for i, h in enumerate(a_hyps)]
    boot = Bootstrap(500, seed=5)
    a, b = utterance_stats("wer", a_hyps, refs), utterance_stats("wer", b_hyps, refs)
    d = boot.paired_delta("wer", {1: a}, {1: b}, key="test_es")
    assert (d.delta, d.lo, d.hi) == (pytest.approx(20.0), pytest.approx(20.0), pytest.approx(20.0))
    own = boot.resampled("wer", a, "test_es")
    assert own.max() - own.min() > 5  # unpaired, the interval would be wide


def test_the_delta_is_the_mean_over_seeds_of_per_seed_deltas():
    refs = [" ".join(WORDS[i % 6:i % 6 + 10]) for i in range(25)]  # 10 words each
    a = {seed: utterance_stats("wer", [garble(r, 2) for r in refs], refs) for seed in (1, 2)}
    b = {1: utterance_stats("wer", refs, refs),                            # -20 on every utterance
         2: utterance_stats("wer", [garble(r, 1) for r in refs], refs)}    # -10
    d = Bootstrap(300, seed=2).paired_delta("wer", a, {**b, 3: b[1]}, key="test_fr")  # seed 3: A has none
    assert d.per_seed == {1: pytest.approx(-20.0), 2: pytest.approx(-10.0)}
    assert (d.delta, d.lo, d.hi) == (pytest.approx(-15.0), pytest.approx(-15.0), pytest.approx(-15.0))


def test_bootstrap_is_seeded_and_per_set():
    refs = sentences(30)
    hyps = [garble(r, i % 4) for i, r in enumerate(refs)]
    a, b = utterance_stats("bleu", hyps, refs), utterance_stats("bleu", refs, refs)
    one = Bootstrap(200, seed=11).paired_delta("bleu", {1: a}, {1: b}, key="test_fr")
    again = Bootstrap(200, seed=11)
    again.counts("test_es", 50)  # drawing another set first changes nothing
    two = again.paired_delta("bleu", {1: a}, {1: b}, key="test_fr")
    assert np.array_equal(one.samples, two.samples) and (one.lo, one.hi) == (two.lo, two.hi)
    other = Bootstrap(200, seed=12).paired_delta("bleu", {1: a}, {1: b}, key="test_fr")
    assert not np.array_equal(one.samples, other.samples)
    counts = Bootstrap(200, seed=11).counts("test_fr", 30)
    assert counts.shape == (200, 30) and (counts.sum(axis=1) == 30).all()


def test_bootstrap_refuses_unpaired_runs():
    refs = sentences(10)
    s = utterance_stats("bleu", refs, refs)
    boot = Bootstrap(100)
    with pytest.raises(DataError, match="share no seed \\(A: 1 2; B: 3\\)"):
        boot.paired_delta("bleu", {1: s, 2: s}, {3: s}, key="test_fr")
    with pytest.raises(DataError, match="different numbers of utterances \\(\\[9, 10\\]\\)"):
        boot.paired_delta("bleu", {1: s}, {1: s[:9]}, key="test_fr")
    with pytest.raises(ValueError, match="at least 40"):
        Bootstrap(10)


def test_interval_reads_sacrebleus_order_statistics():
    samples = np.arange(1000, dtype=float)[::-1]
    assert interval(samples) == (25.0, 974.0)  # n // 40 from each end of the sorted values
    with pytest.raises(DataError, match="no bootstrap resample has a score"):
        interval(np.full(100, np.nan))


def test_difference_of_deltas_uses_the_resamples_of_both():
    x = Delta.from_samples(5.0, np.linspace(4, 6, 401))
    y = Delta.from_samples(1.0, np.linspace(0.5, 1.5, 401))
    d = x.minus(y)
    assert d.delta == 4.0 and d.lo == pytest.approx(3.5 + 10 / 400) and d.hi == pytest.approx(4.5 - 10 / 400)
    assert d.text() == f"+4.00 [{d.lo:+.2f}, {d.hi:+.2f}]"


# -- verdicts on constructed deltas -------------------------------------------------
def D(delta: float, lo: float, hi: float) -> Delta:  # noqa: N802 - reads like the maths
    return Delta(delta, lo, hi)


_shuffles = itertools.count()


def spread(center: float, width: float = 1.0) -> Delta:
    """A delta with 400 bootstrap samples spread evenly over center +- width, in a random order of its own
    (so that two of them vary independently, as the resamples of two test sets do)."""
    rng = np.random.default_rng(next(_shuffles))
    return Delta.from_samples(center, rng.permutation(np.linspace(center - width, center + width, 400)))


def test_claim_a_every_language():
    up, zero, down = D(2.0, 0.5, 3.5), D(0.3, -1.0, 1.6), D(-2.0, -3.0, -0.4)
    assert claim_a({"fr": up, "es": up, "pt": up}).verdict == "reproduced"
    v = claim_a({"fr": up, "es": zero, "pt": down})
    assert v.verdict == "partly"
    assert v.reason.startswith("ASR-BLEU scheduled - baseline: fr +2.00 [+0.50, +3.50]; es +0.30 [-1.00, +1.60]")
    assert "1 of 3 on the claimed side, 1 on the other, 1 undecided" in v.reason
    assert claim_a({"fr": zero, "es": down}).verdict == "refuted"
    assert claim_a({"fr": zero, "es": zero}).verdict == "inconclusive"
    v = claim_a({}, missing=["baseline"])
    assert (v.verdict, v.reason) == ("not run", "not run: no runs of baseline")


def test_claim_b_largest_gain_for_the_least_data():
    order = ["fr", "es", "pt"]  # most training data first
    v = claim_b({"fr": spread(1.0), "es": spread(2.0), "pt": spread(8.0)}, order)
    assert v.verdict == "reproduced"
    assert "pt has the least training data: gain(pt) - gain(fr) +7.00" in v.reason
    assert claim_b({"fr": spread(1.0), "es": spread(7.5), "pt": spread(8.0)}, order).verdict == "partly"
    assert claim_b({"fr": spread(9.0), "es": spread(2.0), "pt": spread(2.5)}, order).verdict == "refuted"
    assert claim_b({"fr": spread(2.0), "es": spread(2.2), "pt": spread(2.4)}, order).verdict == "inconclusive"
    assert claim_b({"fr": spread(2.0)}, order).verdict == "not run"
    assert claim_b({}, order, missing=["scheduled"]).verdict == "not run"


def test_claim_c_constant_hurts_the_highest_resource_language():
    v = claim_c(D(-3.0, -4.5, -1.2), "fr")
    assert v.verdict == "reproduced" and v.reason == ("ASR-BLEU constant - baseline on fr (most training data): "
                                                      "-3.00 [-4.50, -1.20] (below 0)")
    assert claim_c(D(2.0, 0.4, 3.1), "fr").verdict == "refuted"
    assert claim_c(D(-0.5, -1.9, 0.8), "fr").verdict == "inconclusive"
    v = claim_c(None, "fr", missing=["constant"])
    assert (v.verdict, v.reason) == ("not run", "not run: no runs of constant")


def test_claim_d_every_ablation_below_scheduled():
    worse, same, better = D(-8.0, -10.0, -6.0), D(-0.4, -2.0, 1.0), D(1.5, 0.2, 2.8)
    full = {"input_only": worse, "output_only": worse, "mask": worse, "uniform": worse}
    assert claim_d(full, "pt").verdict == "reproduced"
    assert claim_d({**full, "uniform": same}, "pt").verdict == "partly"
    assert claim_d({"mask": same, "uniform": better}, "pt").verdict == "refuted"
    assert claim_d({"mask": same}, "pt").verdict == "inconclusive"
    v = claim_d({"mask": worse}, "pt", missing=["input_only", "output_only", "uniform"])
    assert v.verdict == "partly" and v.reason.endswith("not run: input_only, output_only, uniform")
    assert claim_d({}, "pt", missing=list(full)).verdict == "not run"
    assert claim_d(full, "pt", scheduled_missing=True).verdict == "not run"


# -- finding a run's references and training data ------------------------------------
def test_scoring_dir_and_ref_dump_from_scores_json(tmp_path):
    exp = tmp_path / "recipe" / "exp" / "s2st_scheduled_seed1"
    run = {"_path": str(exp / "scores.json"), "exp": "exp/s2st_scheduled_seed1",
           "command": "s2s score --config conf/score.yaml --exp exp/s2st_scheduled_seed1 --sets test_fr "
                      "--ref_dump dump_v2 asr.exp_dir=exp/asr_en"}
    assert scoring_dir(run) == (tmp_path / "recipe").resolve()
    assert ref_dump_of(run, None) == (tmp_path / "recipe" / "dump_v2").resolve()
    assert ref_dump_of({**run, "command": "s2s score --exp x"}, None) == (tmp_path / "recipe" / "dump").resolve()
    assert ref_dump_of(run, tmp_path / "mine") == tmp_path / "mine"
    # an absolute exp: the ESPnet layout <recipe>/exp/<tag>
    assert scoring_dir({**run, "exp": str(exp)}) == (tmp_path / "recipe").resolve()


def test_git_commit(tmp_path):
    import subprocess

    def git(*args):
        return subprocess.run(["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@example.org",
                               *args], capture_output=True, text=True, check=True).stdout.strip()

    assert git_commit(tmp_path) is None  # not a repository
    git("init", "-q")
    (tmp_path / "a.txt").write_text("one\n")
    git("add", "a.txt")
    git("commit", "-q", "-m", "first")
    head = git("rev-parse", "HEAD")
    assert git_commit(tmp_path) == head
    (tmp_path / "untracked.txt").write_text("not ours\n")
    assert git_commit(tmp_path) == head  # untracked files do not make the commit dirty
    (tmp_path / "a.txt").write_text("two\n")
    assert git_commit(tmp_path) == f"{head} +uncommitted changes"


def test_resource_order():
    assert resource_order(["fr", "es", "pt"], {"pt": 150, "fr": 1200, "es": 600}, None, "x") == ["fr", "es", "pt"]
    assert resource_order(["fr", "pt"], {}, ["pt", "es", "fr"], "") == ["pt", "fr"]
    with pytest.raises(DataError, match="cannot tell how much training data pt had .*give --resource_order fr pt"):
        resource_order(["fr", "pt"], {"fr": 10}, None, "exp/a/config.yaml")
    with pytest.raises(DataError, match="does not place pt"):
        resource_order(["fr", "pt"], {}, ["fr"], "")
    with pytest.raises(DataError, match="fr and pt both have 10 training utterances"):
        resource_order(["fr", "pt"], {"fr": 10, "pt": 10}, None, "")
    assert resource_order(["fr"], {}, None, "") == ["fr"]


# -- s2s compare --results end to end --------------------------------------------------
def _kaldi(path, entries):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{k} {v}\n" for k, v in sorted(entries.items())), encoding="utf-8")


def _fake_set(name: str, src: str, n: int) -> dict:
    """``n`` utterances of 6 to 8 words; the model's texts are right, the ASR hears the references."""
    tgt = {f"{src}_{i:02d}": sentences(100 + n + i, 6 + i % 3)[0].capitalize() + "." for i in range(n)}
    src_text = {u: f"{src} {t.lower()}" for u, t in tgt.items()}
    return dict(name=name, src=src, ref_src=src_text, ref_tgt=tgt, hyp_src=src_text, hyp_tgt=tgt, asr_out=tgt,
                asr_ref=tgt, asr_voc=tgt)


@pytest.fixture
def replication_runs(make_corpus, eval_registry):
    """Runs s2st_baseline and s2st_scheduled, seeds 1 and 2, on test_fr (12 utterances) and test_es (10).

    Scheduled speaks every reference; the baseline misses 1 (seed 1) or 2 (seed 2) words of every fr
    utterance and 4 of every es one: the gain is larger on es, which has less training data
    (train_fr 5 utterances, train_es 2, listed in each run's config.yaml).
    """
    corpus = make_corpus([_fake_set("test_fr", "fr", 12), _fake_set("test_es", "es", 10)])
    fr, es = corpus.sets
    for lang, n in (("fr", 5), ("es", 2)):
        texts = {f"tr{lang}_{i}": f"words {i}" for i in range(n)}
        _kaldi(corpus.dump / f"train_{lang}" / f"text.{lang}", texts)
        _kaldi(corpus.dump / f"train_{lang}" / "text.en", texts)
    cfg = load_config(ScoreConfig, corpus.score_yaml(), ["plots=false", "listen_samples=0"])

    def speech(s, k, seed):  # garble k words, from the start (seed 1) or the end (seed 2)
        if seed == 1:
            return {u: garble(t, k) for u, t in s.ref_tgt.items()}
        return {u: " ".join(t.split()[:-k] + ["zulu"] * k) for u, t in s.ref_tgt.items()}

    exps = []
    for system in ("baseline", "scheduled"):
        for seed in (1, 2):
            hyps = {s.name: (s.hyp_src, s.hyp_tgt, s.ref_tgt if system == "scheduled" else speech(s, k, seed))
                    for s, k in ((fr, seed), (es, 4))}
            exp = corpus.make_exp(f"s2st_{system}_seed{seed}", hyps=hyps)
            (exp / "config.yaml").write_text(f"trainer:\n  seed: {seed}\n"
                                             "data:\n  train: [dump/train_fr, dump/train_es]\n")
            run_stage(cfg, exp, ["test_fr", "test_es"], corpus.dump,
                      f"s2s score --config score.yaml --exp {exp} --sets test_fr test_es --ref_dump {corpus.dump}")
            exps.append(exp)
    return corpus, exps


def test_compare_writes_the_replication_results(replication_runs, capsys):
    corpus, exps = replication_runs
    scores = {e.name: json.loads((e / "scores.json").read_text()) for e in exps}
    assert scores["s2st_scheduled_seed2"]["seed"] == 2  # from trainer.seed
    out, results = corpus.root / "compare" / "table.md", corpus.root / "compare" / "RESULTS.md"
    argv = ["compare", "--exps", *map(str, exps), "--out", str(out), "--results", str(results),
            "--bootstrap", "400"]
    assert main(argv) == 0
    capsys.readouterr()
    assert out.is_file() and out.read_text().startswith("# Comparison")  # the table is still written

    text = results.read_text()
    assert f"s2s compare --exps {' '.join(map(str, exps))} --out {out} --results {results} --bootstrap 400" in text
    assert text.splitlines()[2].startswith("Commit `")
    assert "Languages by training data, most first: fr (5 utterances), es (2 utterances)" in text
    # the paired delta of ASR-BLEU per language is the mean over seeds of scheduled - baseline
    data = json.loads(results.with_suffix(".json").read_text())
    for s, lang in (("test_fr", "fr"), ("test_es", "es")):
        want = np.mean([scores[f"s2st_scheduled_seed{k}"]["sets"][s]["asr_bleu"]
                        - scores[f"s2st_baseline_seed{k}"]["sets"][s]["asr_bleu"] for k in (1, 2)])
        cell = data["deltas"]["scheduled - baseline"]["asr_bleu"][s]
        assert cell["delta"] == pytest.approx(want, abs=0.02) and cell["lo"] > 0
        assert set(cell["per_seed"]) == {"1", "2"}
    assert data["deltas"]["scheduled - baseline"]["seeds"] == [1, 2]
    same = data["deltas"]["scheduled - baseline"]["bleu_text"]["test_fr"]  # the same T_tgt in every run
    assert (same["delta"], same["lo"], same["hi"]) == (0, 0, 0)
    assert data["bootstrap"] == {"resamples": 400, "seed": 1234}

    row = next(line for line in text.splitlines()
               if line.startswith("| s2st_scheduled - s2st_baseline | 1 2 | ASR-BLEU [s2s] |"))
    fr_cell = data["deltas"]["scheduled - baseline"]["asr_bleu"]["test_fr"]
    assert f"| {fr_cell['delta']:+.2f} [{fr_cell['lo']:+.2f}, {fr_cell['hi']:+.2f}] |" in row
    verdicts = {v["claim"]: v for v in data["verdicts"]}
    assert verdicts["a"]["verdict"] == "reproduced"
    assert verdicts["b"]["verdict"] == "reproduced"
    assert verdicts["b"]["reason"].startswith("ASR-BLEU, es has the least training data: gain(es) - gain(fr) +")
    assert verdicts["c"]["verdict"] == "not run" and "constant" in verdicts["c"]["reason"]
    assert verdicts["d"]["verdict"] == "not run"
    assert "| (a) | Scheduled interleaving beats the baseline" in text and "| **reproduced** |" in text
    assert "| (c) |" in text and "**not run**" in text

    sched = json.loads((exps[2] / "scores.json").read_text())["sets"]["test_fr"]["asr_bleu"]
    assert sched == 100.0
    assert "### ASR-BLEU [s2s]" in text and "| s2st_scheduled | 1 2 | 100.00 ± 0.00 |" in text
    assert "### WER (T_src) %" in text and "### BLEU (T_tgt)" in text
    topline = next(line for line in text.splitlines() if line.startswith("| ASR-BLEU ref speech [s2s] |"))
    assert topline.count("±") == 2  # one cell per language
    assert "![ASR-BLEU per system and language; a point per seed](RESULTS.png)" in text
    assert results.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"


def test_compare_results_needs_the_resource_order_when_it_cannot_count(replication_runs, capsys, tmp_path):
    corpus, exps = replication_runs
    for exp in exps:  # no training sets in the configs ...
        (exp / "config.yaml").write_text("trainer:\n  seed: 1\n")
    for lang in ("fr", "es"):  # ... nor dump/train_<lang>
        (corpus.dump / f"train_{lang}" / f"text.{lang}").unlink()
    results = tmp_path / "RESULTS.md"
    argv = ["compare", "--exps", *map(str, exps), "--results", str(results), "--bootstrap", "100", "--no_plot"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "cannot tell how much training data fr, es had" in err and "give --resource_order fr es" in err
    assert not results.exists()
    assert main([*argv, "--resource_order", "es", "fr"]) == 0
    text = results.read_text()
    assert "--resource_order es fr" in text and "most first: es, fr (from --resource_order)" in text
    assert not results.with_suffix(".png").exists()


def test_compare_results_refuses_texts_changed_after_scoring(replication_runs, capsys, tmp_path):
    corpus, exps = replication_runs
    hyp = exps[0] / "decode_test_es" / "score" / "asr_text.en"
    lines = hyp.read_text().splitlines()
    hyp.write_text("".join(" ".join(line.split()[:-1]) + "\n" for line in lines))  # one word fewer each
    argv = ["compare", "--exps", *map(str, exps), "--results", str(tmp_path / "R.md"), "--bootstrap", "100"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"{hyp}: recomputed asr_bleu on test_es is" in err and "changed after scoring" in err
    # a wrong reference dump is named too
    assert main([*argv, "--ref_dump", str(tmp_path / "nodump")]) == 2
    assert "reference set 'test_fr'" in capsys.readouterr().err


def test_compare_needs_out_or_results(tmp_path, capsys):
    assert main(["compare", "--exps", str(tmp_path)]) == 2
    assert "give --out (the comparison table), --results" in capsys.readouterr().err
