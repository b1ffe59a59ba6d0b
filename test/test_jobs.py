"""The job pattern of the sharded stages (s2s_plugin/jobs.py): split, run through utils/run.pl, check, merge.

The whole-stage runs go through a real stage verb (`s2s data format`, the cheapest) and the real
utils/run.pl, whose jobs are `python -m s2s_plugin.bin.main ... --job JOB` subprocesses.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from s2s_plugin.bin.main import main
from s2s_plugin.errors import ConfigError, DataError
from s2s_plugin.jobs import DONE, JobMode, Shards, fingerprint, job_argv, log_to, run_stage, shard

ROOT = Path(__file__).resolve().parents[1]
RUN_PL = str(ROOT / "utils" / "run.pl")
IDS = [f"spk{i % 2}_{i:02d}" for i in range(7)]


def write_datadir(root: Path, ids=IDS) -> Path:
    """A two-language data dir of short tones, one wav per utterance and language."""
    for lang in ("fr", "en"):
        (root / "wav" / lang).mkdir(parents=True)
        scp, text = [], []
        for i, utt in enumerate(sorted(ids)):
            t = np.arange(int(8000 * (0.3 + 0.05 * i))) / 8000
            sf.write(root / "wav" / lang / f"{utt}.wav", 0.3 * np.sin(2 * np.pi * (200 + 30 * i) * t), 8000)
            scp.append(f"{utt} {root / 'wav' / lang / f'{utt}.wav'}\n")
            text.append(f"{utt} word{i} {lang}\n")
        (root / f"wav.scp.{lang}").write_text("".join(scp))
        (root / f"text.{lang}").write_text("".join(text))
    (root / "utt2spk").write_text("".join(f"{u} {u.split('_')[0]}\n" for u in sorted(ids)))
    return root


def outputs(dump: Path) -> dict[str, bytes]:
    """Every result file of a dump dir (not the job dirs, logs or the summary with its paths)."""
    return {str(p.relative_to(dump)): p.read_bytes() for p in sorted(dump.rglob("*"))
            if p.is_file() and p.relative_to(dump).parts[0] != "logs"
            and not p.relative_to(dump).parts[0].startswith("format.split") and p.name != ".format.done"}


# -- the records: split, finish, check ------------------------------------------------------------------------

def test_shards_split_contiguously_and_check_ids_and_options(tmp_path):
    s = Shards(tmp_path, "work", 3, log=str(tmp_path / "logs" / "work.JOB.log"), what="work", part="fr")
    parts = [shard(IDS, 3, j) for j in (1, 2, 3)]
    assert sum(parts, []) == IDS and [len(p) for p in parts] == [2, 2, 3]  # utils/split_scp.sh's contract
    for j, ids in enumerate(parts, 1):
        assert s.begin(j) == tmp_path / "work.split3" / str(j)
        s.finish(j, ids, {"config": {"a": 1}, "overrides": ["x=1"]}, {"count": len(ids)})
    records = s.check(IDS, {"config": {"a": 1}})
    assert [r["count"] for r in records] == [2, 2, 3] and records[0]["ids"] == fingerprint(parts[0])
    # other options than the merge's, or than job 1's where the merge does not know them
    with pytest.raises(DataError, match=r"work.split3/1/done.json: job 1 ran with another config \(\{'a': 1\}\) "
                                        r"than the merge has \(\{'a': 2\}\)"):
        s.check(IDS, {"config": {"a": 2}})
    s.finish(3, parts[2], {"config": {"a": 1}, "overrides": ["x=2"]})
    with pytest.raises(DataError, match=r"job 3 ran with overrides \['x=2'\] but job 1 with \['x=1'\]"):
        s.check(IDS, {"config": {"a": 1}})
    # other utterances than the merge sees now: the fingerprint of a part differs
    with pytest.raises(DataError, match="job 1 ran on other utterances than"):
        s.check(IDS[1:], {"config": {"a": 1}})
    # a job started again and not finished: its record is gone, and the error names it and its log
    s.begin(2)
    with pytest.raises(DataError, match=r"work job 2 of 3 \(fr\) did not finish \(no .*work.split3/2/done.json\); "
                                        r"see .*logs/work.2.log"):
        s.check(IDS)
    assert s.missing() == [2]


def test_clear_removes_every_earlier_split_of_that_output_only(tmp_path):
    for name in ("work.split2/1", "work.split10/3", "work.splitx", "other.split2/1"):
        (tmp_path / name).mkdir(parents=True)
    Shards(tmp_path, "work", 4).clear()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.split2", "work.splitx"]


def test_job_argv_replaces_cmd_by_job_and_refuses_words_the_runner_would_change():
    assert job_argv(["data", "format", "a", "b", "--nj", "3", "--cmd", "utils/run.pl --max_jobs_run 2"]) == \
        ["data", "format", "a", "b", "--nj", "3", "--job", "JOB"]
    assert job_argv(["align", "--cmd=utils/slurm.pl", "--dir", "d"]) == ["align", "--dir", "d", "--job", "JOB"]
    with pytest.raises(ConfigError, match="'dump/JOBS' holds JOB, which the job runner replaces"):
        job_argv(["data", "format", "data/x", "dump/JOBS", "--cmd", "utils/run.pl"])


def test_job_mode_is_one_of_job_merge_and_cmd():
    assert JobMode(4).runs_jobs_here and JobMode(4, job=2).runs_jobs_here
    assert not JobMode(4, merge=True).runs_jobs_here
    assert not JobMode(4, cmd="utils/run.pl", argv=["data", "format", "a", "b"]).runs_jobs_here
    with pytest.raises(ConfigError, match="the jobs need the verb's command line"):
        JobMode(4, cmd="utils/run.pl")
    with pytest.raises(ConfigError, match="--job must be in 1..4"):
        JobMode(4, job=5)
    with pytest.raises(ConfigError, match="--nj must be >= 1"):
        JobMode(0)
    with pytest.raises(ConfigError, match="at most one of --job, --merge and --cmd"):
        JobMode(2, job=1, cmd="utils/run.pl")


def test_run_stage_in_this_process_clears_runs_every_job_then_merges(tmp_path):
    s = Shards(tmp_path, "work", 3)
    (tmp_path / "work.split5" / "1").mkdir(parents=True)  # an earlier run's leftovers
    ran = []
    result = run_stage(JobMode(3), [s], lambda j: ran.append(j) or s.finish(j, shard(IDS, 3, j), {}),
                       lambda: len(s.check(IDS)))
    assert ran == [1, 2, 3] and result == 3 and not (tmp_path / "work.split5").exists()
    assert run_stage(JobMode(3, job=2), [s], lambda j: ran.append(j), lambda: 0) is None and ran[-1] == 2
    assert run_stage(JobMode(3, merge=True), [s], lambda j: 1 / 0, lambda: "merged") == "merged"


def test_log_to_appends_records_to_a_file(tmp_path):
    import logging

    with log_to(tmp_path / "logs" / "x.log"):
        logging.getLogger("s2s_plugin.test").info("into the file")
    logging.getLogger("s2s_plugin.test").info("not any more")
    text = (tmp_path / "logs" / "x.log").read_text()
    assert "INFO: into the file" in text and "not any more" not in text


# -- a whole stage through utils/run.pl -------------------------------------------------------------------

def test_whole_stage_through_run_pl_equals_one_process(tmp_path):
    data = write_datadir(tmp_path / "data")
    assert main(["data", "format", str(data), str(tmp_path / "one"), "fs=16000"]) == 0
    dump = tmp_path / "three"
    assert main(["data", "format", str(data), str(dump), "fs=16000", "--nj", "3", "--cmd", RUN_PL]) == 0
    # same files, byte for byte (the wav.scp lists name their own dump dir)
    one = {k: v.replace(str(tmp_path / "one").encode(), b"DUMP") for k, v in outputs(tmp_path / "one").items()}
    assert one == {k: v.replace(str(dump).encode(), b"DUMP") for k, v in outputs(dump).items()}
    assert (dump / ".format.done").is_file() and sorted(p.name for p in dump.glob("format.split*")) == ["format.split3"]
    for j in (1, 2, 3):  # one log per job, the runner's header names the job's own command line
        log = (dump / "logs" / f"format.{j}.log").read_text()
        assert f"--nj 3 --job {j}" in log.splitlines()[0] and "--cmd" not in log and "# Ended (code 0)" in log
        assert json.loads((dump / "format.split3" / str(j) / DONE).read_text())["ids"] == \
            fingerprint(shard(sorted(IDS), 3, j))
    assert "format merge:" in (dump / "logs" / "format.merge.log").read_text()


def test_a_failing_job_is_named_with_its_log_and_a_rerun_completes(tmp_path, capsys):
    data = write_datadir(tmp_path / "data")
    dump = tmp_path / "dump"
    bad = data / "wav" / "en" / f"{sorted(IDS)[3]}.wav"  # an utterance of job 2 of 3
    good = bad.read_bytes()
    bad.write_bytes(b"not audio")
    argv = ["data", "format", str(data), str(dump), "--nj", "3", "--cmd", RUN_PL]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"format job 2 of 3 did not finish (no {dump}/format.split3/2/done.json); see " \
           f"{dump}/logs/format.2.log" in err
    assert "cannot read audio" in (dump / "logs" / "format.2.log").read_text()
    assert not (dump / ".format.done").exists() and not (dump / "wav.scp.fr").exists()
    # the merge alone refuses too, naming the same job and log
    assert main(argv[:-2] + ["--merge"]) == 2
    assert "format job 2 of 3 did not finish" in capsys.readouterr().err
    # a killed earlier run with another split: its partial results are removed, not merged
    (dump / "format.split2" / "1").mkdir(parents=True)
    (dump / "format.split2" / "1" / DONE).write_text("{}")
    bad.write_bytes(good)
    assert main(argv) == 0
    assert sorted(p.name for p in dump.glob("format.split*")) == ["format.split3"]
    assert len((dump / "wav.scp.fr").read_text().splitlines()) == len(IDS)


def test_a_runner_that_does_not_start_is_a_clear_error(tmp_path, capsys):
    data = write_datadir(tmp_path / "data", IDS[:2])
    assert main(["data", "format", str(data), str(tmp_path / "d"), "--nj", "2", "--cmd", "no/such/run.pl"]) == 2
    assert "--cmd 'no/such/run.pl': cannot start the job runner" in capsys.readouterr().err


def _tree(root: int) -> list[int]:
    """``root`` and every process below it (run.pl's jobs run in sessions of their own)."""
    import os

    kids: dict[int, list[int]] = {}
    for d in filter(str.isdigit, os.listdir("/proc")):
        try:
            ppid = int(Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(d))
    out, todo = [], [root]
    while todo:
        out.append(todo.pop())
        todo += kids.get(out[-1], [])
    return out


def test_a_rerun_after_a_killed_stage_completes_it(tmp_path, capsys):
    """SIGKILL the stage's process and its jobs while job 2 of 2 runs (a pipe entry that waits),
    as a power cut would: the merge refuses, naming job 2's log; the rerun gives a clean run's result."""
    import os
    import signal
    import subprocess
    import sys
    import time

    data = write_datadir(tmp_path / "data")
    last = sorted(IDS)[-1]  # in job 2 of 2
    scp = data / "wav.scp.en"
    plain = scp.read_text()
    slow = f"{last} sleep 60; cat {data / 'wav' / 'en' / f'{last}.wav'} |\n"
    scp.write_text("".join(slow if line.startswith(f"{last} ") else line for line in plain.splitlines(True)))
    dump = tmp_path / "dump"
    argv = ["data", "format", str(data), str(dump), "--nj", "2", "--cmd", RUN_PL]
    p = subprocess.Popen([sys.executable, "-m", "s2s_plugin.bin.main", *argv], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    t0 = time.monotonic()
    while not (dump / "format.split2" / "1" / DONE).exists() and time.monotonic() - t0 < 60:
        time.sleep(0.05)
    time.sleep(0.5)  # job 2 is in its pipe
    procs = _tree(p.pid)
    for pid in procs:
        os.kill(pid, signal.SIGSTOP)
    for pid in procs:
        os.kill(pid, signal.SIGKILL)
    p.wait()
    assert (dump / "format.split2" / "1" / DONE).exists() and not (dump / "format.split2" / "2" / DONE).exists()
    assert main(argv[:-2] + ["--merge"]) == 2  # what the killed run left is not merged
    assert f"format job 2 of 2 did not finish (no {dump}/format.split2/2/done.json); see " \
           f"{dump}/logs/format.2.log" in capsys.readouterr().err
    scp.write_text(plain)
    assert main(argv) == 0
    assert main(["data", "format", str(data), str(tmp_path / "one")]) == 0
    one = {k: v.replace(str(tmp_path / "one").encode(), b"DUMP") for k, v in outputs(tmp_path / "one").items()}
    assert one == {k: v.replace(str(dump).encode(), b"DUMP") for k, v in outputs(dump).items()}
