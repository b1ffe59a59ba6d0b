"""utils/queue.pl (Grid Engine and PBS) against a stand-in qsub that records its arguments and runs the tasks here."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
QUEUE_PL = str(ROOT / "utils" / "queue.pl")

# Behaves like qsub: records its arguments, prints the job id the way Grid Engine
# (-t S-E) or PBS (-J S-E) does, and runs the tasks in the background after it
# has returned, with SGE_TASK_ID or PBS_ARRAY_INDEX set and the output in -o
# (its $TASK_ID / ^array_index^ filled in). FAKE_QSUB_KILL=K kills task K with
# SIGKILL a second after it starts (as a scheduler enforcing a limit would);
# FAKE_QSUB_REJECT=1 refuses the submission.
FAKE_QSUB = r"""#!/usr/bin/env bash
printf '%s\n' "$@" >> "${FAKE_QSUB_ARGS}"
echo "--" >> "${FAKE_QSUB_ARGS}"
if [ -n "${FAKE_QSUB_REJECT:-}" ]; then
    echo 'Unable to run job: unknown resource "gpu".' >&2
    exit 1
fi
args=("$@") kind="" range="" output=""
for ((i = 0; i < $#; i++)); do
    case "${args[i]}" in
        -t) kind=sge; range=${args[i + 1]} ;;
        -J) kind=pbs; range=${args[i + 1]} ;;
        -o) output=${args[i + 1]} ;;
    esac
done
script=${!#}
if [ -z "${range}" ]; then
    echo "Your job 4242 (\"one\") has been submitted"
    start=0 end=0
else
    start=${range%-*} end=${range#*-}
    if [ "${kind}" = pbs ]; then echo "4242[].pbs01"; else echo "Your job-array 4242.${start}-${end}:1 (\"x\") has been submitted"; fi
fi
(
    for ((i = start; i <= end; i++)); do
        out=${output//\$TASK_ID/$i}
        out=${out//^array_index^/$i}
        task_env=()
        [ "${kind}" != sge ] || task_env=(SGE_TASK_ID="$i")
        [ "${kind}" != pbs ] || task_env=(PBS_ARRAY_INDEX="$i")
        if [ "$i" = "${FAKE_QSUB_KILL:-}" ]; then
            env ${task_env[@]+"${task_env[@]}"} bash "${script}" > "${out}" 2>&1 &
            sleep 1
            kill -KILL $!
        else
            env ${task_env[@]+"${task_env[@]}"} bash "${script}" > "${out}" 2>&1
        fi
    done
) < /dev/null > /dev/null 2>&1 &
exit 0
"""

# Records its arguments and releases the stand-in's waiting tasks.
FAKE_QDEL = r"""#!/usr/bin/env bash
printf '%s\n' "$@" > "${FAKE_QDEL_ARGS}"
touch "${FAKE_RELEASE}"
"""

# Kaldi / ESPnet's queue.conf format, with an exact rule after its wildcard rule.
KALDI_CONF = """# Grid Engine at our site
command qsub -v PATH -cwd -S /bin/bash -j y -l arch=*64*
option mem=* -l mem_free=$0,ram_free=$0
option mem=0          # nothing for --mem 0
option num_threads=* -pe smp $0
option num_threads=1  # nothing for one thread
option max_jobs_run=* -tc $0
default gpu=0
option gpu=0
option gpu=* -l gpu=$0 -q g.q
option name=* -N $0
"""


@pytest.fixture
def env(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name, text in (("qsub", FAKE_QSUB), ("qdel", FAKE_QDEL)):
        (bindir / name).write_text(text)
        (bindir / name).chmod(0o755)
    e = dict(os.environ)
    e["PATH"] = f"{bindir}{os.pathsep}{e['PATH']}"
    e["FAKE_QSUB_ARGS"] = str(tmp_path / "qsub_args")
    e["FAKE_QDEL_ARGS"] = str(tmp_path / "qdel_args")
    e["FAKE_RELEASE"] = str(tmp_path / "release")
    e["QUEUE_PL_POLL"] = "0.1"
    return e


def queue_pl(env, cwd, *args, **extra_env):
    return subprocess.run([QUEUE_PL, *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          env={**env, **extra_env}, timeout=60)


def qsub_calls(env) -> list[list[str]]:
    text = Path(env["FAKE_QSUB_ARGS"]).read_text()
    return [call.strip("\n").split("\n") for call in text.split("--\n") if call.strip()]


def test_sge_array_job_builtin_rules_and_per_job_logs(env, tmp_path):
    p = queue_pl(env, tmp_path, "--gpu", 1, "--mem", "4G", "--num_threads", 2, "--time", "1:00:00",
                 "--max_jobs_run", 2, "JOB=1:3", "exp/log/fmt.JOB.log", "echo", "job JOB", "|", "tr", "a-z", "A-Z")
    assert p.returncode == 0, p.stderr
    [args] = qsub_calls(env)
    qdir = tmp_path / "exp/log/q"
    assert args == ["-V", "-S", "/bin/bash", "-N", "fmt", "-o", f"{qdir}/fmt.$TASK_ID.q.out", "-j", "y",
                    "-t", "1-3", "-l", "mem_free=4G", "-pe", "smp", "2", "-l", "gpu=1", "-l", "h_rt=1:00:00",
                    "-tc", "2", f"{qdir}/fmt.array.sh"]
    for j in (1, 2, 3):
        lines = (tmp_path / f"exp/log/fmt.{j}.log").read_text().splitlines()
        assert lines[0] == f"# echo 'job {j}' | tr a-z A-Z"
        assert lines[1].startswith("# Started at ")
        assert lines[2] == f"JOB {j}"
        assert re.fullmatch(r"# Ended \(code 0\) at .+, elapsed time \d+ seconds", lines[3])
        assert (qdir / f"fmt.status/{j}").read_text().strip() == "0"
        assert (qdir / f"fmt.{j}.q.out").exists()


def test_kaldi_queue_conf_translates_options_and_defaults(env, tmp_path):
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf/queue.conf").write_text(KALDI_CONF)  # picked up without --config
    p = queue_pl(env, tmp_path, "--mem", "2G", "--num-threads", 1, "JOB=1:2", "l/a.JOB.log", "echo", "JOB")
    assert p.returncode == 0, p.stderr
    p = queue_pl(env, tmp_path, "--config", "conf/queue.conf", "--gpu", 2, "--num_threads", 4, "--mem", 0,
                 "--name", "mine", "l/b.log", "echo", "one")
    assert p.returncode == 0, p.stderr
    first, second = qsub_calls(env)
    command = ["-v", "PATH", "-cwd", "-S", "/bin/bash", "-j", "y", "-l", "arch=*64*"]
    qdir = tmp_path / "l/q"
    # mem=* with $0 filled in; num_threads=1 and the default gpu=0 add nothing
    assert first == [*command, "-N", "a", "-o", f"{qdir}/a.$TASK_ID.q.out", "-j", "y", "-t", "1-2",
                     "-l", "mem_free=2G,ram_free=2G", f"{qdir}/a.array.sh"]
    # one job: its own script, no array; mem=0 adds nothing although mem=* comes first
    assert second == [*command, "-N", "b", "-o", f"{qdir}/b.1.q.out", "-j", "y",
                      "-pe", "smp", "4", "-l", "gpu=2", "-q", "g.q", "-N", "mine", f"{qdir}/b.1.sh"]
    assert (tmp_path / "l/a.2.log").read_text().splitlines()[2] == "2"
    assert (tmp_path / "l/b.log").read_text().splitlines()[2] == "one"


def test_pbs_array_job(env, tmp_path):
    p = queue_pl(env, tmp_path, "--pbs", "true", "--gpu", 1, "--mem", "8G", "--time", "2:00:00",
                 "JOB=2:4", "log/p.JOB.log", "echo", "task JOB")
    assert p.returncode == 0, p.stderr
    [args] = qsub_calls(env)
    qdir = tmp_path / "log/q"
    assert args == ["-V", "-S", "/bin/bash", "-N", "p", "-o", f"{qdir}/p.^array_index^.q.out", "-j", "oe",
                    "-J", "2-4", "-l", "mem=8G", "-l", "ngpus=1", "-l", "walltime=2:00:00", f"{qdir}/p.array.sh"]
    for j in (2, 3, 4):
        assert (tmp_path / f"log/p.{j}.log").read_text().splitlines()[2] == f"task {j}"
    assert not (tmp_path / "log/p.1.log").exists()


def test_failed_job_is_named_with_its_log(env, tmp_path):
    p = queue_pl(env, tmp_path, "JOB=1:3", "log/x.JOB.log", "if [ JOB = 2 ]; then echo bad; exit 5; fi")
    assert p.returncode == 1
    assert "job 2 failed with exit code 5; log: log/x.2.log" in p.stderr
    assert "job 1 failed" not in p.stderr and "job 3 failed" not in p.stderr
    assert "1 of 3 jobs failed" in p.stderr and "    bad" in p.stderr


def test_job_killed_by_the_scheduler_is_a_failure(env, tmp_path):
    p = queue_pl(env, tmp_path, "JOB=1:3", "log/k.JOB.log", "if [ JOB = 2 ]; then sleep 3; fi; echo done",
                 FAKE_QSUB_KILL="2", QUEUE_PL_HEARTBEAT="1", QUEUE_PL_DEAD_AFTER="2")
    assert p.returncode == 1
    assert "job 2 ended without an exit status; log: log/k.2.log" in p.stderr
    assert f"job 2 stopped its heartbeat: killed by the scheduler (time or memory limit?); " \
           f"see {tmp_path}/log/q/k.2.q.out" in p.stderr
    assert "1 of 3 jobs failed" in p.stderr
    assert (tmp_path / "log/k.3.log").read_text().splitlines()[2] == "done"


def test_option_without_a_rule_and_bad_rules_are_errors(env, tmp_path):
    (tmp_path / "q.conf").write_text("command qsub -cwd\noption mem=* -l mem_free=$0\n")
    p = queue_pl(env, tmp_path, "--config", "q.conf", "--gpu", 1, "l.log", "true")
    assert p.returncode == 1
    assert "--gpu 1: q.conf has no rule for it; add 'option gpu=* OPTIONS...'" in p.stderr
    (tmp_path / "bad.conf").write_text("command qsub\noption mem -l mem_free=$0\n")
    p = queue_pl(env, tmp_path, "--config", "bad.conf", "l.log", "true")
    assert p.returncode == 1 and "bad.conf:2: expected 'option NAME=VALUE'" in p.stderr
    p = queue_pl(env, tmp_path, "--pbs", "yes", "l.log", "true")
    assert p.returncode == 1 and "--pbs takes true or false, not 'yes'" in p.stderr
    assert not Path(env["FAKE_QSUB_ARGS"]).exists()


def test_rejected_submission_shows_qsub_message(env, tmp_path):
    p = queue_pl(env, tmp_path, "JOB=1:2", "log/r.JOB.log", "true", FAKE_QSUB_REJECT="1")
    assert p.returncode == 1
    assert "qsub failed; its messages" in p.stderr and 'unknown resource "gpu"' in p.stderr


def test_interrupt_deletes_the_job(env, tmp_path):
    cmd = "touch started.JOB; until [ -e release ]; do sleep 0.1; done"
    proc = subprocess.Popen([QUEUE_PL, "JOB=1:2", "log/i.JOB.log", cmd], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    for _ in range(600):
        if (tmp_path / "started.1").exists():
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGINT
    assert "got SIGINT; deleting job 4242" in err
    assert (tmp_path / "qdel_args").read_text().split() == ["4242"]


@pytest.mark.parametrize("conf", sorted(ROOT.glob("egs/*/s2st1/conf/queue.conf")) +
                         sorted(ROOT.glob("egs/*/s2st1/conf/pbs.conf")), ids=lambda p: str(p.relative_to(ROOT)))
def test_recipe_configs_are_the_builtin_rules(env, tmp_path, conf):
    opts = ["--pbs", "true" if conf.name == "pbs.conf" else "false", "--gpu", 1, "--mem", "2G",
            "--num_threads", 2, "--time", "1:00:00", "--max_jobs_run", 2]
    p = queue_pl(env, tmp_path, *opts, "--config", conf, "JOB=1:2", "l/c.JOB.log", "true")
    assert p.returncode == 0, p.stderr
    p = queue_pl(env, tmp_path, *opts, "JOB=1:2", "l/c.JOB.log", "true")
    assert p.returncode == 0, p.stderr
    from_file, builtin = qsub_calls(env)
    assert from_file == builtin
