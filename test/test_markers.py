"""s2s_plugin.markers: what goes into a done marker's key, and begin/end."""
from __future__ import annotations

import io
import json
import logging

import pytest
import yaml

from s2s_plugin.bin.main import main as s2s_main
from s2s_plugin.errors import ConfigError, StageError
from s2s_plugin.markers import StageSpec, begin, changes, end, make_record, read_marker


@pytest.fixture
def work(tmp_path, monkeypatch):
    """A recipe-like dir: a config, a data dir with its stage-1 marker, and a dump dir."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "format.yaml").write_text("fs: 16000  # the rate\nmax_duration: 20.0\n")
    data = tmp_path / "data" / "train"
    data.mkdir(parents=True)
    (data / "text.en").write_text("u1 hello\n")
    (data / ".done.stage1").write_text("key: abc\n")
    return tmp_path


def spec(**kw) -> StageSpec:
    base = dict(stage=2, options={"tgt_lang": "en"}, configs={"format_conf": "conf/format.yaml"},
                data=["data/train"], inputs=["data/train/.done.stage1"])
    return StageSpec(**{**base, **kw})


def key(**kw) -> str:
    return make_record(spec(**kw))["key"]


def test_the_key_follows_options_configs_data_and_inputs_but_not_comments(work):
    k = key()
    assert key() == k
    assert key(options={"tgt_lang": "de"}) != k
    assert key(overrides={"format_conf.fs": "8000"}) != k
    assert key(overrides={"format_conf.fs": ""}) == k  # the recipe's empty option: not given
    assert key(overrides={"format_conf.fs": "16000"}) == k  # --fs equal to the config's: same options
    (work / "conf" / "format.yaml").write_text("# reformatted\nmax_duration: 20.0\nfs: 16000\n")
    assert key() == k  # comments, layout and key order do not count
    (work / "conf" / "format.yaml").write_text("fs: 16000\nmax_duration: 30.0\n")
    k2 = key()
    assert k2 != k
    (work / "data" / "train" / "text.en").write_text("u1 hello there\n")
    k3 = key()
    assert k3 != k2
    (work / "data" / "train" / ".done.stage1").write_text("key: def\n")
    assert key() != k3
    (work / "data" / "train" / "logs").mkdir()  # subdirs and dot files are not data
    (work / "data" / "train" / "logs" / "x.log").write_text("x")
    assert key() != k3 and key() == key()


def test_changes_name_each_option_config_key_data_file_and_input(work):
    old = make_record(spec())
    (work / "data" / "train" / "text.en").write_text("u1 hi\n")
    (work / "data" / "train" / ".done.stage1").write_text("key: zzz\n")
    new = make_record(spec(overrides={"format_conf.fs": "8000"}, options={"tgt_lang": "de"}))
    assert changes(old, new) == ["option tgt_lang: en -> de", "config format_conf.fs: 16000 -> 8000",
                                 "data file data/train.text.en changed",
                                 "input data/train/.done.stage1: its stage ran again with other options or inputs"]
    assert "older s2st.sh" in changes(None, new)[0]


def test_begin_runs_skips_reruns_or_refuses(work, caplog):
    m = work / "dump" / "train" / ".done.stage2"
    started = begin(m, spec())
    assert started is not None and not m.exists()
    assert not m.parent.exists()  # nothing written until the stage completes
    record = end(m, started)
    assert read_marker(m) == record and sorted(p.name for p in m.parent.iterdir()) == [".done.stage2"]
    assert set(record) == {"key", "stage", "options", "configs", "data", "inputs", "started", "finished"}
    assert begin(m, spec()) is None and m.is_file()  # current: skip, marker kept

    with caplog.at_level(logging.INFO):
        started = begin(m, spec(overrides={"format_conf.fs": "8000"}))
    assert started is not None
    assert "config format_conf.fs: 16000 -> 8000" in caplog.text and "running the stage again" in caplog.text
    assert not m.exists()  # removed before the work
    end(m, started)

    with pytest.raises(StageError) as e:
        begin(m, spec(), on_change="refuse", run_cmd="./run.sh --nj 2")
    msg = str(e.value)
    assert "stage 2: " in msg and "config format_conf.fs: 8000 -> 16000" in msg
    assert "./run.sh --nj 2 --stage 2 --stop_stage 2 --force true" in msg
    assert m.is_file()  # refused: the result is kept
    assert begin(m, spec(), on_change="refuse", force=True) is not None and not m.exists()


def test_force_removes_a_current_marker_first_and_an_old_style_marker_is_out_of_date(work):
    m = work / "out" / ".done.stage2"
    end(m, begin(m, spec()))
    assert begin(m, spec(), force=True) is not None and not m.exists()
    m.write_text("done\nMon Jan  1 00:00:00 UTC 2024\n")  # an older s2st.sh's marker
    with pytest.raises(StageError, match="older s2st.sh"):
        begin(m, spec(), on_change="refuse")
    assert begin(m, spec()) is not None


def test_missing_input_names_the_stage_and_the_command(work):
    (work / "data" / "train" / ".done.stage1").unlink()
    with pytest.raises(StageError) as e:
        begin(work / "out" / ".done.stage2", spec(), run_cmd="cd /r && ./s2st.sh --nj 2")
    assert str(e.value) == ("stage 2 needs data/train/.done.stage1, the done marker stage 1 writes when it "
                            "completes, and it is missing: stage 1 did not run or did not finish; complete it "
                            "with:\n  cd /r && ./s2st.sh --nj 2 --stage 1 --stop_stage 1")
    assert not (work / "out").exists()  # nothing started
    with pytest.raises(StageError, match="needs dump/x/.done.stage5.align"):
        begin(work / "exp" / ".done.stage8", StageSpec(stage=8, inputs=["dump/x/.done.stage5.align"]))


def test_an_input_if_used_counts_only_when_a_config_names_its_dir(work):
    (work / "conf" / "units.yaml").write_text("tokenizer: {name: ctc_kmeans, exp_dir: exp/ctc}\n")
    (work / "conf" / "mfcc.yaml").write_text("tokenizer: {name: mfcc_kmeans}\n")
    used = StageSpec(stage=4, configs={"units_conf": "conf/units.yaml"}, inputs_if_used=["exp/ctc/.done.stage3"])
    with pytest.raises(StageError, match="needs exp/ctc/.done.stage3"):
        make_record(used)
    unused = StageSpec(stage=4, configs={"units_conf": "conf/mfcc.yaml"}, inputs_if_used=["exp/ctc/.done.stage3"])
    assert make_record(unused)["inputs"] == {}
    (work / "exp" / "ctc").mkdir(parents=True)
    (work / "exp" / "ctc" / ".done.stage3").write_text("key: k3\n")
    assert make_record(used)["inputs"] == {"exp/ctc/.done.stage3": "k3"}


def test_recipe_paths_reach_the_blocks_that_read_them_and_make_their_stage_an_input(work, registry):
    # the recipe's configs leave stage 3's model out: s2st.sh gives it to the verb and to the marker (--path)
    (work / "conf" / "units.yaml").write_text("tokenizer: {name: ctc_kmeans, layer: 2}\n")
    (work / "conf" / "mfcc.yaml").write_text("tokenizer: {name: mfcc_kmeans}\n")
    used = StageSpec(stage=4, configs={"units_conf": "conf/units.yaml"}, paths={"ctc_exp": "exp/ctc"},
                     inputs_if_used=["exp/ctc/.done.stage3"])
    with pytest.raises(StageError, match="needs exp/ctc/.done.stage3"):
        make_record(used)
    (work / "exp" / "ctc").mkdir(parents=True)
    (work / "exp" / "ctc" / ".done.stage3").write_text("key: k3\n")
    record = make_record(used)
    assert record["inputs"] == {"exp/ctc/.done.stage3": "k3"}
    assert record["configs"]["units_conf"]["tokenizer"] == {"name": "ctc_kmeans", "layer": 2, "exp_dir": "exp/ctc"}
    unused = StageSpec(stage=4, configs={"units_conf": "conf/mfcc.yaml"}, paths={"ctc_exp": "exp/ctc"},
                       inputs_if_used=["exp/ctc/.done.stage3"])
    assert make_record(unused)["inputs"] == {} and "exp_dir" not in make_record(unused)["configs"]["units_conf"]


def test_begin_removes_orphan_temp_files_only_under_clean_dirs(work):
    out = work / "dump" / "train"
    (out / "audio").mkdir(parents=True)
    orphan = out / "audio" / ".u1.flac.ab_c1234.tmp"  # atomic_write's name: .NAME.<8 chars>.tmp
    orphan.write_text("half")
    mine = out / "notes.tmp"
    mine.write_text("a user's file")
    begin(out / ".done.stage2", spec(), clean=[out])
    assert not orphan.exists() and mine.exists()


def test_bad_configs_and_overrides_are_errors(work):
    with pytest.raises(ConfigError, match=r"stage 2 \(format_conf\): config file not found: conf/nope.yaml"):
        make_record(spec(configs={"format_conf": "conf/nope.yaml"}))
    with pytest.raises(ConfigError, match="override other.fs"):
        make_record(spec(overrides={"other.fs": "1"}))
    with pytest.raises(ConfigError, match="on_change"):
        begin(work / "m", spec(), on_change="maybe")
    with pytest.raises(StageError, match="no record of the stage's start"):
        end(work / "never" / ".done.stage2", {"key": "k"})


def test_cli_begin_end_and_errors(work, capsys, monkeypatch):
    args = ["marker", "begin", "out/.done.stage2", "--stage", "2", "--config", "format_conf=conf/format.yaml",
            "--input", "data/train/.done.stage1", "--override", "format_conf.fs=16000", "--clean", "out"]
    assert s2s_main(args) == 0
    status, record = capsys.readouterr().out.splitlines()
    assert status == "run" and json.loads(record)["stage"] == 2
    monkeypatch.setattr("sys.stdin", io.StringIO(record + "\n"))
    assert s2s_main(["marker", "end", "out/.done.stage2"]) == 0
    assert yaml.safe_load((work / "out" / ".done.stage2").read_text())["key"] == json.loads(record)["key"]
    assert s2s_main(args) == 0 and capsys.readouterr().out == "skip\n"
    assert s2s_main(args + ["--force", "true"]) == 0 and capsys.readouterr().out.startswith("run\n")
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert s2s_main(["marker", "end", "out/.done.stage2"]) == 2
    assert "no record on standard input" in capsys.readouterr().err
    assert s2s_main(["marker", "begin", "out4/.done.stage4", "--stage", "4", "--input", "out/.done.stage3"]) == 2
    assert "needs out/.done.stage3" in capsys.readouterr().err
    assert s2s_main(["marker", "begin", "m", "--stage", "2", "--opt", "novalue"]) == 2
    assert "--opt takes NAME=VALUE" in capsys.readouterr().err


def test_fresh_dirs_go_when_forced_or_changed_and_stay_for_a_killed_run_of_the_same_key(work):
    ckpt = work / "exp" / "checkpoints"
    m = work / "exp" / ".done.stage8"

    def checkpoint():
        ckpt.mkdir(parents=True, exist_ok=True)
        (ckpt / "last.ckpt").write_text("weights")

    # a first run is killed after writing a checkpoint: the rerun with the same options resumes from it
    rec = begin(m, spec(), fresh=[ckpt])
    checkpoint()
    assert (m.parent / ".done.stage8.running").read_text().strip() == rec["key"]
    begin(m, spec(), fresh=[ckpt])
    assert (ckpt / "last.ckpt").is_file()
    # killed again, then rerun with other options: the checkpoints are another run's and go
    rec = begin(m, spec(options={"tgt_lang": "de"}), fresh=[ckpt])
    assert not ckpt.exists()
    checkpoint()
    end(m, rec)
    assert not (m.parent / ".done.stage8.running").exists()
    # completed: the same key skips and keeps everything
    assert begin(m, spec(options={"tgt_lang": "de"}), fresh=[ckpt]) is None and ckpt.is_dir()
    # other inputs (a changed config) with --on_change rerun: afresh
    begin(m, spec(), fresh=[ckpt])
    assert not ckpt.exists()
    checkpoint()
    end(m, make_record(spec()) | {"started": "x"})
    # forced with the same key: afresh too
    begin(m, spec(), force=True, fresh=[ckpt])
    assert not ckpt.exists()
    # without --fresh nothing is removed and no .running file is written
    checkpoint()
    begin(m, spec(options={"tgt_lang": "fr"}), clean=[work / "exp"])
    assert ckpt.is_dir()


def test_cli_begin_takes_fresh(work, capsys):
    ckpt = work / "exp" / "checkpoints"
    ckpt.mkdir(parents=True)
    assert s2s_main(["marker", "begin", "exp/.done.stage8", "--stage", "8", "--opt", "a=1",
                     "--force", "true", "--fresh", str(ckpt)]) == 0
    assert capsys.readouterr().out.startswith("run\n") and not ckpt.exists()
