"""Stage 4 through the CLI: fit, label (single job, sharded + merge), dedup, stats, errors, configs."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from s2s_plugin.bin.main import main
from s2s_plugin.config import load_config
from s2s_plugin.units.stage import FitConfig, Item, UnitsConfig, read_units, select_portion

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "egs" / "mini_s2st" / "s2st1" / "conf"

MFCC = {"tokenizer": {"name": "mfcc_kmeans", "n_clusters": 12, "batch_size": 128, "epochs": 2,
                      "frame_shift_ms": 20.0, "seed": 3},
        "fit": {"share": 1.0, "seed": 0}}


def s2s(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def fitted(tmp_path, dump_dir, capsys):
    """An mfcc_kmeans fit on a train set: (exp dir, train dir, dev dir)."""
    train, dev = dump_dir("train_fr"), dump_dir("dev_fr", seed=1)
    conf = tmp_path / "units.yaml"
    conf.write_text(yaml.safe_dump(MFCC))
    exp = tmp_path / "exp" / "units"
    code, _, err = s2s(capsys, "units", "fit", "--config", conf, "--dirs", train, "--lang", "fr", "en",
                       "--exp", exp, "fit.share=0.9")
    assert code == 0, err
    return exp, train, dev


def test_fit_writes_model_config_and_measurements(fitted):
    exp, train, _ = fitted
    info = yaml.safe_load((exp / "units.yaml").read_text())
    assert info["tokenizer"]["name"] == "mfcc_kmeans" and info["frame_rate"] == 50.0
    assert (info["n_clusters"], info["feature_dim"], info["dedup"]) == (12, 39, False)
    assert np.load(exp / "centres.npy").shape == (12, 39)
    fit = json.loads((exp / "fit.json").read_text())
    assert fit["utterances"] == 13 and fit["utterances_available"] == 14  # ceil(0.9 * 7 utts * 2 langs)
    assert fit["passes"] == 2 and fit["frames"] == sum(fit["frames_per_epoch"]) == 2 * fit["frames_per_epoch"][0]
    assert 0 < fit["extraction_rtf"] < 1 and fit["fit_seconds"] > 0
    assert fit["peak_rss_bytes"] >= fit["rss_at_start_bytes"] > 0 and fit["traced_peak_bytes"] > 0
    assert yaml.safe_load((exp / "config.yaml").read_text())["fit"]["share"] == 0.9
    assert "unit_tokenizer" in yaml.safe_load((exp / "plugins.yaml").read_text())
    assert "units fit:" in (exp / "fit.log").read_text()


def test_label_end_to_end(fitted, capsys):
    exp, _, dev = fitted
    code, _, err = s2s(capsys, "units", "label", "--exp", exp, "--dir", dev)
    assert code == 0, err
    for lang in ("fr", "en"):
        units = read_units(dev / f"units.{lang}")
        durs = {u: float(d) for u, d in (line.split() for line in (dev / f"utt2dur.{lang}").read_text().splitlines())}
        assert list(units) == sorted(durs)
        for utt, seq in units.items():
            assert abs(len(seq) - durs[utt] * 50.0) <= 1.0
            assert 0 <= min(seq) and max(seq) < 12
        info = yaml.safe_load((dev / f"units.{lang}.info").read_text())
        assert info["frame_rate"] == 50.0 and info["tokenizer"]["name"] == "mfcc_kmeans" and not info["dedup"]
        assert info["units"] == sum(map(len, units.values())) and info["utterances"] == 7
        assert info["units_per_second"] == pytest.approx(info["units"] / info["audio_seconds"])
        assert 0 < info["rtf"] < 1
    assert not list(dev.glob(".units*")) and not list(dev.glob("*.tmp"))  # no temporaries left


def test_fit_and_labels_are_deterministic(fitted, tmp_path, capsys):
    exp, train, dev = fitted
    conf = tmp_path / "units.yaml"
    exp2 = tmp_path / "exp" / "units2"
    # an override after --lang is an override, not a language
    assert s2s(capsys, "units", "fit", "--config", conf, "--dirs", train, "--exp", exp2, "--lang", "fr", "en",
               "fit.share=0.9")[0] == 0
    np.testing.assert_array_equal(np.load(exp / "centres.npy"), np.load(exp2 / "centres.npy"))
    exp3 = tmp_path / "exp" / "units3"
    assert s2s(capsys, "units", "fit", "--config", conf, "--dirs", train, "--exp", exp3, "fit.share=0.9",
               "tokenizer.seed=4")[0] == 0
    assert not np.array_equal(np.load(exp / "centres.npy"), np.load(exp3 / "centres.npy"))


def test_feature_cache_gives_the_same_fit(fitted, tmp_path, capsys):
    exp, train, _ = fitted
    cached = tmp_path / "exp" / "cached"
    assert s2s(capsys, "units", "fit", "--config", tmp_path / "units.yaml", "--dirs", train, "--exp", cached,
               "fit.share=0.9", "fit.cache=true")[0] == 0
    np.testing.assert_array_equal(np.load(exp / "centres.npy"), np.load(cached / "centres.npy"))
    fit = json.loads((cached / "fit.json").read_text())
    assert fit["cache_bytes"] == fit["frames_per_epoch"][0] * 39 * 4
    uncached = json.loads((exp / "fit.json").read_text())
    assert fit["extracted_audio_seconds"] == pytest.approx(uncached["extracted_audio_seconds"] / 2)  # 1 of 2 passes
    assert not (cached / ".features.cache").exists()


@pytest.mark.parametrize("nj", [3, 9])  # 9 > 7 utterances: some jobs are empty
def test_sharded_labelling_equals_one_job(fitted, nj, capsys):
    exp, _, dev = fitted
    assert s2s(capsys, "units", "label", "--exp", exp, "--dir", dev, "--lang", "fr")[0] == 0
    single = (dev / "units.fr").read_text()
    for job in range(1, nj + 1):
        assert s2s(capsys, "units", "label", "--exp", exp, "--dir", dev, "--lang", "fr", "--nj", nj,
                   "--job", job)[0] == 0
    assert not (dev / "units.fr").exists() and not (dev / "units.fr.info").exists()  # until the merge
    assert s2s(capsys, "units", "label", "--exp", exp, "--dir", dev, "--lang", "fr", "--nj", nj, "--merge")[0] == 0
    assert (dev / "units.fr").read_text() == single
    assert yaml.safe_load((dev / "units.fr.info").read_text())["nj"] == nj


def test_merge_refuses_missing_or_stale_jobs(fitted, tmp_path, capsys):
    exp, train, dev = fitted
    for job in (1, 3):
        s2s(capsys, "units", "label", "--exp", exp, "--dir", dev, "--lang", "en", "--nj", 3, "--job", job)
    code, _, err = s2s(capsys, "units", "label", "--exp", exp, "--dir", dev, "--lang", "en", "--nj", 3, "--merge")
    assert code == 2 and "units job 2 of 3 did not finish" in err and not (dev / "units.en").exists()
    s2s(capsys, "units", "label", "--exp", exp, "--dir", dev, "--lang", "en", "--nj", 3, "--job", 2)
    s2s(capsys, "units", "fit", "--config", tmp_path / "units.yaml", "--dirs", train, "--exp", exp)  # refit
    code, _, err = s2s(capsys, "units", "label", "--exp", exp, "--dir", dev, "--lang", "en", "--nj", 3, "--merge")
    assert code == 2 and "ran with another unit tokenizer fit" in err


def test_dedup_collapses_repeats(fitted, capsys):
    exp, _, dev = fitted
    s2s(capsys, "units", "label", "--exp", exp, "--dir", dev, "--lang", "fr")
    plain = read_units(dev / "units.fr")
    assert s2s(capsys, "units", "label", "--exp", exp, "--dir", dev, "--lang", "fr", "--dedup", "true")[0] == 0
    deduped = read_units(dev / "units.fr")
    for utt, seq in deduped.items():
        assert all(a != b for a, b in zip(seq, seq[1:]))
        assert seq == [u for i, u in enumerate(plain[utt]) if i == 0 or plain[utt][i - 1] != u]
    info = yaml.safe_load((dev / "units.fr.info").read_text())
    assert info["dedup"] is True and info["frames"] > info["units"]


def test_stats_report_unit_rate_and_units_per_token(fitted, capsys):
    exp, _, dev = fitted
    s2s(capsys, "units", "label", "--exp", exp, "--dir", dev)
    code, out, _ = s2s(capsys, "units", "stats", "--dirs", dev, "--json")
    rows = {r["lang"]: r for r in json.loads(out)}
    assert code == 0 and set(rows) == {"fr", "en"} and rows["en"]["side"] == "target"
    for lang, row in rows.items():
        units = read_units(dev / f"units.{lang}")
        text = dict(line.split(" ", 1) for line in (dev / f"text.{lang}").read_text().splitlines())
        n = sum(map(len, units.values()))
        assert row["units"] == n and row["units_per_second"] == pytest.approx(50.0, abs=1.0)
        assert row["units_per_word"] == pytest.approx(n / sum(len(t.split()) for t in text.values()))
        assert row["units_per_char"] == pytest.approx(n / sum(len(t.replace(" ", "")) for t in text.values()))
    code, out, _ = s2s(capsys, "units", "stats", "--dirs", dev)
    assert out.split()[:4] == ["set", "lang", "side", "utterances"] and "dev_fr" in out


def test_stats_pool_sides_and_count_bpe_pieces(fitted, tmp_path, capsys):
    import sentencepiece as spm

    exp, train, dev = fitted
    for d in (train, dev):
        s2s(capsys, "units", "label", "--exp", exp, "--dir", d)
    texts = tmp_path / "texts.txt"
    texts.write_text("".join(line.split(" ", 1)[1] + "\n" for d in (train, dev) for lang in ("fr", "en")
                             for line in (d / f"text.{lang}").read_text().splitlines()))
    spm.SentencePieceTrainer.train(input=str(texts), model_prefix=str(tmp_path / "bpe"), vocab_size=40,
                                   model_type="bpe", hard_vocab_limit=False, minloglevel=2)
    code, out, _ = s2s(capsys, "units", "stats", "--dirs", train, dev, "--bpemodel", tmp_path / "bpe.model", "--json")
    rows = json.loads(out)
    assert code == 0 and [r["set"] for r in rows] == ["train_fr", "train_fr", "dev_fr", "dev_fr", "(all)", "(all)"]
    proc = spm.SentencePieceProcessor(model_file=str(tmp_path / "bpe.model"))
    for r in rows[:4]:
        lines = (train.parent / r["set"] / f"text.{r['lang']}").read_text().splitlines()
        text = dict(line.split(" ", 1) for line in lines)
        assert r["bpe"] == sum(len(proc.encode(t)) for t in text.values())
        assert r["units_per_bpe"] == pytest.approx(r["units"] / r["bpe"])
    for pooled in rows[4:]:
        part = [r for r in rows[:4] if r["side"] == pooled["side"]]
        assert pooled["units"] == sum(r["units"] for r in part) and pooled["bpe"] == sum(r["bpe"] for r in part)
        assert pooled["units_per_bpe"] == pytest.approx(pooled["units"] / pooled["bpe"])
        assert pooled["units_per_second"] == pytest.approx(pooled["units"] / (3600 * sum(r["hours"] for r in part)))
    assert rows[4]["side"] == "source" and rows[4]["lang"] == "fr" and rows[5]["lang"] == "en"


def test_ctc_kmeans_through_the_cli(standin_ctc, dump_dir, tmp_path, capsys):
    exp_ctc, _ = standin_ctc
    train = dump_dir("train_es", src="es")
    conf = tmp_path / "units.yaml"
    conf.write_text(yaml.safe_dump({"tokenizer": {"name": "ctc_kmeans", "exp_dir": str(exp_ctc), "layer": 2,
                                                  "n_clusters": 6, "batch_size": 64}}))
    exp = tmp_path / "exp" / "units_ctc"
    assert s2s(capsys, "units", "fit", "--config", conf, "--dirs", train, "--lang", "es", "--exp", exp)[0] == 0
    assert s2s(capsys, "units", "label", "--exp", exp, "--dir", train, "--lang", "es")[0] == 0
    units = read_units(train / "units.es")
    assert len(units) == 7 and all(0 <= u < 6 for seq in units.values() for u in seq)
    assert yaml.safe_load((train / "units.es.info").read_text())["frame_rate"] == 50.0


def test_hf_kmeans_stage4_on_a_model_saved_by_the_installed_transformers(dump_dir, tmp_path, capsys):
    """A CTC fine-tuned wav2vec 2.0 saved with its processor (transformers 5: processor_config.json) -> units."""
    from units_testutils import save_w2v2

    from s2s_plugin.units.stage import load_tokenizer

    model_dir = tmp_path / "w2v2_ctc"
    save_w2v2(model_dir)
    train = dump_dir("train_fr")
    conf = tmp_path / "units.yaml"
    conf.write_text(yaml.safe_dump({"tokenizer": {"name": "hf_kmeans", "model_dir": str(model_dir), "layer": 2,
                                                  "n_clusters": 6, "batch_size": 64, "extract_batch_size": 3}}))
    exp = tmp_path / "exp" / "units_hf"
    code, _, err = s2s(capsys, "units", "fit", "--config", conf, "--dirs", train, "--exp", exp)
    assert code == 0, err
    info = yaml.safe_load((exp / "units.yaml").read_text())
    assert info["frame_rate"] == 50.0 and info["feature_dim"] == 32
    assert "batches of up to 3 utterances (padded)" in (exp / "fit.log").read_text()
    code, _, err = s2s(capsys, "units", "label", "--exp", exp, "--dir", train)
    assert code == 0, err
    tok, _ = load_tokenizer(exp)
    tok.extractor.batch_size = 1
    from s2s_plugin.data.datadir import DataDir

    dd = DataDir(train, "en")
    for lang in ("fr", "en"):
        units = read_units(train / f"units.{lang}")
        assert sorted(units) == sorted(dd.utt_ids)
        for utt in dd.utt_ids:  # the batched labels are the one-by-one labels
            assert units[utt] == tok.encode(*dd.load_audio(utt, lang)).tolist()


def test_input_errors_exit_2_before_any_work(dump_dir, tmp_path, capsys):
    train = dump_dir("train_fr")
    conf = tmp_path / "bad.yaml"
    exp = tmp_path / "exp" / "bad"
    conf.write_text(yaml.safe_dump({"tokenizer": {"name": "mfcc_kmeans", "n_cluster": 8}}))
    code, _, err = s2s(capsys, "units", "fit", "--config", conf, "--dirs", train, "--exp", exp)
    assert code == 2 and "does not accept 'n_cluster'" in err and "did you mean 'n_clusters'" in err
    conf.write_text(yaml.safe_dump({"tokenizer": {"name": "ctc_kmeans", "exp_dir": str(tmp_path / "no_ctc"),
                                                  "layer": 3}}))
    code, _, err = s2s(capsys, "units", "fit", "--config", conf, "--dirs", train, "--exp", exp)
    assert code == 2 and "no CTC model directory at" in err and "tokenizer.exp_dir=DIR" in err
    code, _, err = s2s(capsys, "units", "fit", "--config", conf, "--dirs", train, "--lang", "de", "--exp", exp)
    assert code == 2
    code, _, err = s2s(capsys, "units", "label", "--exp", exp, "--dir", train)
    assert code == 2 and "no finished unit tokenizer fit" in err
    assert not (exp / "units.yaml").exists() and not (train / "units.fr").exists()


def test_too_many_clusters_for_the_portion(dump_dir, tmp_path, capsys):
    train = dump_dir("train_fr")
    conf = tmp_path / "u.yaml"
    conf.write_text(yaml.safe_dump({"tokenizer": {"name": "mfcc_kmeans", "n_clusters": 5000}}))
    code, _, err = s2s(capsys, "units", "fit", "--config", conf, "--dirs", train, "--exp", tmp_path / "e")
    assert code == 2 and "fewer than n_clusters=5000" in err


def test_portion_share_hours_and_seed():
    items = [Item("d", "fr", f"u{i:02d}", 2.0) for i in range(40)]
    half = select_portion(items, FitConfig(share=0.5, seed=1))
    assert len(half) == 20 and half == select_portion(items, FitConfig(share=0.5, seed=1))
    assert half != select_portion(items, FitConfig(share=0.5, seed=2))
    capped = select_portion(items, FitConfig(share=1.0, max_hours=10 / 3600, seed=1))
    assert len(capped) == 5 and capped == select_portion(items, FitConfig(seed=1))[:5]


@pytest.mark.parametrize("name", ["units.yaml", "units_mfcc.yaml"])
def test_recipe_configs_load(name, registry):
    cfg = load_config(UnitsConfig, CONF / name)
    assert cfg.tokenizer["name"] in registry.infos("unit_tokenizer") and cfg.dedup is False
