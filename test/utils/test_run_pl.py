"""utils/run.pl: local parallel jobs with Kaldi's JOB=1:N LOGFILE COMMAND interface."""
from __future__ import annotations

import os
import re
import signal
import time
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUN_PL = str(ROOT / "utils" / "run.pl")


def run_pl(*args, cwd):
    return subprocess.run([RUN_PL, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=120)


def test_job_substitution_and_log_header_footer(tmp_path):
    p = run_pl("JOB=1:3", "log/echo.JOB.log", "echo", "job-JOB", "of", "3:JOB", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    for j in (1, 2, 3):
        lines = (tmp_path / f"log/echo.{j}.log").read_text().splitlines()
        assert lines[0] == f"# echo job-{j} of 3:{j}"
        assert lines[1].startswith("# Started at ")
        assert lines[2] == f"job-{j} of 3:{j}"
        assert re.fullmatch(r"# Ended \(code 0\) at .+, elapsed time \d+ seconds", lines[3])
        assert len(lines) == 4


def test_other_job_variable_name_and_single_index(tmp_path):
    p = run_pl("SPLIT=4:5", "l/SPLIT.log", "echo", "SPLIT", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "l/4.log").read_text().splitlines()[2] == "4"
    assert (tmp_path / "l/5.log").read_text().splitlines()[2] == "5"
    assert not (tmp_path / "l/1.log").exists()
    p = run_pl("JOB=7", "one.JOB.log", "echo", "JOB", cwd=tmp_path)
    assert p.returncode == 0 and (tmp_path / "one.7.log").read_text().splitlines()[2] == "7"


def test_single_job_form_without_range(tmp_path):
    p = run_pl("merge.log", "echo", "JOB stays", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "merge.log").read_text().splitlines()[2] == "JOB stays"


def test_jobs_run_in_parallel(tmp_path):
    # Each job waits until all three have started: only possible if they run at once.
    cmd = "touch started.JOB; for i in $(seq 200); do [ $(ls started.* | wc -l) -eq 3 ] && exit 0; sleep 0.05; done; exit 1"
    p = run_pl("--max_jobs_run", 3, "JOB=1:3", "log/b.JOB.log", cmd, cwd=tmp_path)
    assert p.returncode == 0, p.stderr + "".join((tmp_path / f"log/b.{j}.log").read_text() for j in (1, 2, 3))


def test_max_jobs_run_limits_concurrency(tmp_path):
    (tmp_path / "running").mkdir()
    cmd = ("touch running/JOB; ls running | wc -l > count.JOB; sleep 0.3; "
           "ls running | wc -l >> count.JOB; rm running/JOB")
    p = run_pl("--max_jobs_run", 2, "JOB=1:6", "log/c.JOB.log", cmd, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    counts = [int(n) for j in range(1, 7) for n in (tmp_path / f"count.{j}").read_text().split()]
    assert max(counts) == 2


def test_failed_job_is_named_with_its_log_after_the_others_finish(tmp_path):
    cmd = "if [ JOB -eq 2 ]; then echo boom; exit 3; fi; sleep 1; touch finished.JOB"
    p = run_pl("JOB=1:3", "log/f.JOB.log", cmd, cwd=tmp_path)
    assert p.returncode == 1
    assert "job 2 failed with exit code 3; log: log/f.2.log" in p.stderr
    assert "job 1 failed" not in p.stderr and "job 3 failed" not in p.stderr
    assert "1 of 3 jobs failed" in p.stderr
    assert "    boom" in p.stderr  # the end of the failed log is shown
    assert (tmp_path / "finished.1").exists() and (tmp_path / "finished.3").exists()
    assert "# Ended (code 3)" in (tmp_path / "log/f.2.log").read_text()


def test_pipeline_failure_counts(tmp_path):
    p = run_pl("p.log", "false | cat", cwd=tmp_path)
    assert p.returncode == 1
    assert "# Ended (code 1)" in (tmp_path / "p.log").read_text()


def test_words_stay_literal_arguments_and_operators_act(tmp_path):
    words = ["a b", "it's", "$HOME", "*", "x\\y", "~", "ok=1"]
    p = run_pl("JOB=1:2", "q.JOB.log", "printf", "<%s>\\n", *words, "|", "tr", "a-z", "A-Z",
               ">", "out.JOB", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    for j in (1, 2):
        expected = [f"<{w.upper()}>" for w in words]
        assert (tmp_path / f"out.{j}").read_text().splitlines() == expected


def test_one_word_command_is_a_shell_line(tmp_path):
    p = run_pl("JOB=1:2", "s.JOB.log", "echo JOB-a | tr a b > s.JOB; test -s s.JOB", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "s.2").read_text() == "2-b\n"


def test_cluster_options_are_accepted_and_ignored(tmp_path):
    p = run_pl("--gpu", 1, "--mem", "4G", "--num_threads", 2, "--num-threads=3", "--time", "1:00:00",
               "--config", "conf/none.conf", "JOB=1:2", "o.JOB.log", "echo", "ok", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "o.2.log").read_text().splitlines()[2] == "ok"


@pytest.mark.parametrize("args,message", [
    (["--bogus", "1", "l.log", "true"], "unknown option --bogus"),
    (["JOB=1:3", "same.log", "true"], "would share one log file same.log"),
    (["JOB=3:1", "l.JOB.log", "true"], "empty job range"),
    (["--max_jobs_run", "0", "l.log", "true"], "--max_jobs_run takes a positive number"),
])
def test_usage_errors(tmp_path, args, message):
    p = run_pl(*args, cwd=tmp_path)
    assert p.returncode == 1
    assert message in p.stderr


def test_help(tmp_path):
    p = run_pl("--help", cwd=tmp_path)
    assert p.returncode == 0
    assert "JOB=START:END" in p.stdout and "--max_jobs_run" in p.stdout


def test_default_job_count_is_the_cpu_count_whatever_omp_num_threads(tmp_path):
    p = subprocess.run([RUN_PL, "--help"], capture_output=True, text=True,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert f"(default: number of CPUs, {len(os.sched_getaffinity(0))} here)" in p.stdout


def test_terminating_run_pl_stops_every_process_of_its_jobs(tmp_path):
    # Each job waits for the file "release"; a job that outlived run.pl would then write late.JOB.
    cmd = "touch started.JOB; until [ -e release ]; do sleep 0.1; done | cat; touch late.JOB"
    proc = subprocess.Popen([RUN_PL, "--max_jobs_run", "2", "JOB=1:2", "log/t.JOB.log", cmd],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for _ in range(600):
        if (tmp_path / "started.1").exists() and (tmp_path / "started.2").exists():
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGTERM
    assert "got SIGTERM; stopping the running jobs" in err
    (tmp_path / "release").touch()
    time.sleep(1.0)
    assert not list(tmp_path.glob("late.*"))
