"""Stage 5 (`s2s align`): jobs and merge, reports of utterances that cannot be aligned, the fail ratio."""
from __future__ import annotations

import types

import pytest
import torch
import yaml

from s2s_plugin import hookimpl
from s2s_plugin.align import AlignmentError, AlignmentWarning
from s2s_plugin.align.stage import AlignConfig, align_dir, align_job, merge_jobs
from s2s_plugin.bin.main import main
from s2s_plugin.config import load_config
from s2s_plugin.data.io import WordSpan, read_ctm
from s2s_plugin.errors import DataError

UTTS = {"s1_a": ("un deux trois", "one two three"), "s1_b": ("quatre", "four"),
        "s2_c": ("cinq six", "five six"), "s2_d": ("sept huit neuf dix", "seven eight nine ten")}


def write_conf(path, block, **extra):
    path.write_text(yaml.safe_dump({"aligner": block, **extra}))
    return path


def test_jobs_and_merge_equal_one_process(make_dir, tmp_path, capsys, registry):
    d = make_dir(UTTS)
    conf = write_conf(tmp_path / "align.yaml", {"name": "uniform", "span": "whole"})
    for job in (1, 2, 3):
        assert main(["align", "--config", str(conf), "--dir", str(d), "--lang", "fr", "--nj", "3",
                     "--job", str(job)]) == 0
    assert main(["align", "--config", str(conf), "--dir", str(d), "--lang", "fr", "--nj", "3", "--merge"]) == 0
    assert "aligned 4 of 4 utterances, 0 failed" in capsys.readouterr().out
    merged = (d / "align.fr.ctm").read_text()
    assert main(["align", "--config", str(conf), "--dir", str(d), "--out", "one"]) == 0  # both languages
    assert (d / "one.fr.ctm").read_text() == merged and (d / "one.en.ctm").is_file()
    lines = [line for line in merged.splitlines() if line.startswith("s2_c ")]
    assert lines == ["s2_c 1 0.000 0.700 cinq", "s2_c 1 0.700 0.700 six"]  # 1.4 s of audio, two words
    assert (d / "align.fr.report").read_text() == "# utt\tstatus\tmessage\n"


class PickyAligner:
    """Fails on utterances with 'quatre', warns on those with 'six'."""

    name = "picky"

    def setup(self, data_dir: str, lang: str) -> None:
        pass

    def align(self, utt_id, words, wav, sr):
        import warnings

        if "quatre" in words:
            raise AlignmentError("word 'quatre' has characters not in the model vocabulary: 'q'")
        if "six" in words:
            warnings.warn(AlignmentWarning("word 'six': a character was left out"), stacklevel=2)
        return [WordSpan(w, 0.1 * i, 0.1) for i, w in enumerate(words)]


@pytest.fixture
def picky(registry):
    mod = types.ModuleType("picky_plugin")
    mod.register_aligners = hookimpl(lambda: [PickyAligner])
    with registry.temporary(mod, name="picky_plugin"):
        yield


def test_unalignable_utterances_are_reported_not_dropped(make_dir, tmp_path, picky, caplog):
    d = make_dir(UTTS)
    cfg = AlignConfig(aligner={"name": "picky"}, max_fail_ratio=0.25)
    summary = align_dir(d, "fr", cfg, nj=2)
    assert summary == {"utterances": 4, "aligned": 3, "failed": 1, "warnings": 1, "dropped": 0, "words": 9}
    assert "s1_b" not in read_ctm(d / "align.fr.ctm") and len(read_ctm(d / "align.fr.ctm")) == 3
    report = (d / "align.fr.report").read_text().splitlines()
    assert report[1:] == ["s1_b\tfailed\tword 'quatre' has characters not in the model vocabulary: 'q'",
                          "s2_c\twarning\tword 's2_c': a character was left out".replace("'s2_c'", "'six'")]
    assert "utterance 's1_b' not aligned: word 'quatre'" in caplog.text
    # more failures than allowed: the report stays, the CTM goes, the stage fails
    with pytest.raises(DataError, match=r"1 of 4 utterances \(25.0%\) could not be aligned, more than "
                                        r"max_fail_ratio 0.2; see .*align.fr.report \(e.g. s1_b: word 'quatre'"):
        align_dir(d, "fr", AlignConfig(aligner={"name": "picky"}, max_fail_ratio=0.2), nj=2)
    assert not (d / "align.fr.ctm").exists() and (d / "align.fr.report").is_file()


def test_merge_checks_the_jobs(make_dir, registry):
    d = make_dir(UTTS)
    cfg = AlignConfig(aligner={"name": "uniform"})
    align_job(d, "en", cfg, nj=2, job=1)
    with pytest.raises(DataError, match=r"align job 2 of 2 \(en\) did not finish"):
        merge_jobs(d, "en", cfg, nj=2)
    align_job(d, "en", cfg, nj=2, job=2)
    with pytest.raises(DataError, match="ran with another config"):
        merge_jobs(d, "en", AlignConfig(aligner={"name": "uniform", "span": "whole"}), nj=2)
    assert merge_jobs(d, "en", cfg, nj=2)["aligned"] == 4


def test_ctm_word_mismatch_names_the_utterance(make_dir, tmp_path, capsys, registry):
    d = make_dir(UTTS)
    oracle = (d / "oracle.fr.ctm").read_text().replace(" huit", " ocho")
    (d / "oracle.fr.ctm").write_text(oracle)
    conf = write_conf(tmp_path / "a.yaml", {"name": "ctm"})
    assert main(["align", "--config", str(conf), "--dir", str(d), "--lang", "fr"]) == 2
    err = capsys.readouterr().err
    assert "oracle.fr.ctm: utterance 's2_d': the CTM words differ from the transcript at word 2: 'ocho'" in err
    assert main(["align", "--config", str(conf), "--dir", str(d), "--lang", "en"]) == 0
    assert read_ctm(d / "align.en.ctm") == read_ctm(d / "oracle.en.ctm")


@pytest.fixture
def ctc_exp(tmp_path):
    """An untrained in-recipe CTC model saved as an exp dir (the stage only needs the files)."""
    from s2s_plugin.asr.model import CTCNet
    from s2s_plugin.asr.tokens import CharTokenList

    exp = tmp_path / "exp_ctc"
    exp.mkdir()
    tokens = CharTokenList.build(["un deux trois quatre cinq six sept huit neuf dix"])
    net_conf = {"frontend_conf": {"n_mels": 20}, "stack_frames": 2, "encoder": "transformer",
                "encoder_conf": {"output_size": 16, "attention_heads": 2, "linear_units": 16, "num_blocks": 1,
                                 "input_layer": "linear"}}
    torch.manual_seed(0)
    torch.save(CTCNet(len(tokens), **net_conf).state_dict(), exp / "model.pth")
    tokens.save(exp / "tokens.txt")
    (exp / "config.yaml").write_text(yaml.safe_dump({"type": "s2s", **net_conf}))
    return exp


def test_ctc_segmentation_through_the_stage(make_dir, ctc_exp, tmp_path, capsys, registry):
    d = make_dir(UTTS)
    conf = write_conf(tmp_path / "align.yaml", {"name": "ctc_segmentation", "model": str(ctc_exp)},
                      max_fail_ratio=0.5)
    assert main(["align", "--config", str(conf), "--dir", str(d), "--lang", "fr", "--nj", "2"]) == 0
    spans = read_ctm(d / "align.fr.ctm")
    assert sorted(spans) == sorted(UTTS)
    for utt, (text, _) in UTTS.items():
        assert [s.word for s in spans[utt]] == text.split()
        assert all(0 <= s.start <= s.end <= 1.4 for s in spans[utt])
        assert all(a.end == pytest.approx(b.start, abs=0.0015) for a, b in zip(spans[utt], spans[utt][1:]))
    # English has characters the model never saw: reported per utterance, and the stage fails
    assert main(["align", "--config", str(conf), "--dir", str(d), "--lang", "en"]) == 2
    assert "could not be aligned" in capsys.readouterr().err
    report = (d / "align.en.report").read_text()
    assert "s1_a\tfailed\tword 'two' has characters not in the model vocabulary: 'w'\n" in report
    assert ("s2_d\tfailed\tword 'seven' has characters not in the model vocabulary: 'v'; "
            "word 'eight' has characters not in the model vocabulary: 'g'\n") in report  # every such word


def test_cmd_run_passes_its_overrides_and_ctc_exp_to_every_job(make_dir, ctc_exp, tmp_path, registry):
    """--cmd runs the verb's own command line as each job: the jobs get the trailing override and --ctc_exp
    (s2st.sh's --align_args and stage 3's model) and give what --job/--merge with them gives."""
    import json
    from pathlib import Path

    run_pl = str(Path(__file__).resolve().parents[2] / "utils" / "run.pl")
    d = make_dir(UTTS)
    conf = write_conf(tmp_path / "align.yaml", {"name": "ctc_segmentation"})  # the model comes from --ctc_exp
    call = ["align", "--config", str(conf), "--dir", str(d), "--lang", "fr", "--ctc_exp", str(ctc_exp), "--nj", "2"]
    shift = "aligner.time_offset=0.05"
    for j in (1, 2):
        assert main([*call, "--out", "jobs", "--job", str(j), shift]) == 0
    assert main([*call, "--out", "jobs", "--merge", shift]) == 0
    assert main([*call, "--out", "cmd", "--cmd", run_pl, shift]) == 0
    assert main([*call, "--out", "plain", "--cmd", run_pl]) == 0
    ctm = (d / "cmd.fr.ctm").read_text()
    assert ctm == (d / "jobs.fr.ctm").read_text() != (d / "plain.fr.ctm").read_text()  # the override counted
    for j in (1, 2):
        aligner = json.loads((d / "cmd.fr.split2" / str(j) / "done.json").read_text())["options"]["config"]["aligner"]
        assert aligner["model"] == str(ctc_exp) and aligner["time_offset"] == 0.05
        assert (d / "logs" / f"cmd.{j}.log").is_file()
    # a merge without the jobs' override refuses them
    with pytest.raises(DataError, match=r"cmd.fr.split2/1/done.json: job 1 ran with another config"):
        main([*call, "--out", "cmd", "--merge", "--debug"])


def test_recipe_align_configs_load(registry):
    from pathlib import Path

    conf = Path(__file__).resolve().parents[2] / "egs" / "mini_s2st" / "s2st1" / "conf"
    cfg = load_config(AlignConfig, conf / "align.yaml")
    # the model is stage 3's, which s2st.sh passes (s2s align --ctc_exp): the config leaves it out
    assert cfg.aligner["name"] == "ctc_segmentation" and "model" not in cfg.aligner
    assert load_config(AlignConfig, conf / "align_uniform.yaml").aligner["name"] == "uniform"
    assert set(registry.infos("aligner")) >= {"ctc_segmentation", "uniform", "ctm"}
