"""utils/slurm.pl against a stand-in sbatch that records its arguments and runs the tasks here."""
from __future__ import annotations

import os
import re
import signal
import time
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SLURM_PL = str(ROOT / "utils" / "slurm.pl")

# Behaves like "sbatch --wait --array=S-E[%M] ... SCRIPT": prints the submission
# line, runs every task with SLURM_ARRAY_TASK_ID set (output to --output with
# %A/%a filled in) and exits with the highest task exit code.
# FAKE_SBATCH_SKIP=K leaves task K unrun (as if Slurm killed it);
# FAKE_SBATCH_REJECT=1 refuses the submission.
FAKE_SBATCH = r"""#!/usr/bin/env bash
printf '%s\n' "$@" >> "${FAKE_SBATCH_ARGS}"
echo "--" >> "${FAKE_SBATCH_ARGS}"
if [ -n "${FAKE_SBATCH_REJECT:-}" ]; then
    echo "sbatch: error: invalid partition specified: nope" >&2
    exit 1
fi
array="" output="slurm-%A_%a.out" wait=0
for a in "$@"; do
    case "$a" in
        --array=*) array=${a#--array=} ;;
        --output=*) output=${a#--output=} ;;
        --wait) wait=1 ;;
    esac
done
[ "$wait" = 1 ] || { echo "stand-in needs --wait" >&2; exit 1; }
script=${!#}
range=${array%%\%*}
start=${range%-*}
end=${range#*-}
echo "Submitted batch job 4242"
rc=0
for ((i = start; i <= end; i++)); do
    if [ "$i" = "${FAKE_SBATCH_SKIP:-}" ]; then rc=1; continue; fi
    out=${output//%A/4242}
    out=${out//%a/$i}
    SLURM_ARRAY_JOB_ID=4242 SLURM_ARRAY_TASK_ID=$i bash "$script" > "$out" 2>&1 || { r=$?; [ "$r" -gt "$rc" ] && rc=$r; }
done
exit "$rc"
"""

# Records its arguments and releases the stand-in's waiting tasks.
FAKE_SCANCEL = r"""#!/usr/bin/env bash
printf '%s\n' "$@" > "${FAKE_SCANCEL_ARGS}"
touch "${FAKE_RELEASE}"
"""

CONF = """# cluster defaults
default --time=2:00:00   # every job
cpu --partition=cpu
gpu --partition=gpu --cpus-per-task=2
"""


@pytest.fixture
def env(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "sbatch").write_text(FAKE_SBATCH)
    (bindir / "sbatch").chmod(0o755)
    (bindir / "scancel").write_text(FAKE_SCANCEL)
    (bindir / "scancel").chmod(0o755)
    e = dict(os.environ)
    e["PATH"] = f"{bindir}{os.pathsep}{e['PATH']}"
    e["FAKE_SBATCH_ARGS"] = str(tmp_path / "sbatch_args")
    e["SLURM_PL_STATUS_WAIT"] = "0"
    e["FAKE_SCANCEL_ARGS"] = str(tmp_path / "scancel_args")
    e["FAKE_RELEASE"] = str(tmp_path / "release")
    return e


def slurm_pl(env, cwd, *args, **extra_env):
    return subprocess.run([SLURM_PL, *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          env={**env, **extra_env}, timeout=120)


def sbatch_calls(env) -> list[list[str]]:
    text = Path(env["FAKE_SBATCH_ARGS"]).read_text()
    return [call.strip("\n").split("\n") for call in text.split("--\n") if call.strip()]


def test_array_job_options_and_per_job_logs(env, tmp_path):
    (tmp_path / "slurm.conf").write_text(CONF)
    p = slurm_pl(env, tmp_path, "--config", "slurm.conf", "--gpu", 2, "--mem", "4G", "--num_threads", 3,
                 "--max_jobs_run", 2, "JOB=1:3", "exp/log/fmt.JOB.log", "echo", "job JOB", "|", "tr", "a-z", "A-Z")
    assert p.returncode == 0, p.stderr
    [args] = sbatch_calls(env)
    qdir = tmp_path / "exp/log/q"
    assert args[0] == "--wait"
    assert "--array=1-3%2" in args and "--job-name=fmt" in args
    assert f"--output={qdir}/fmt.%a.slurm.out" in args
    # config rules first (default, then the gpu rule), then the command-line options
    assert args[args.index("--time=2:00:00"):-1] == [
        "--time=2:00:00", "--partition=gpu", "--cpus-per-task=2",
        "--gres=gpu:2", "--mem=4G", "--cpus-per-task=3"]
    assert "--partition=cpu" not in args
    assert args[-1] == f"{qdir}/fmt.array.sh"
    for j in (1, 2, 3):
        lines = (tmp_path / f"exp/log/fmt.{j}.log").read_text().splitlines()
        assert lines[0] == f"# echo 'job {j}' | tr a-z A-Z"
        assert lines[1].startswith("# Started at ")
        assert lines[2] == f"JOB {j}"
        assert re.fullmatch(r"# Ended \(code 0\) at .+, elapsed time \d+ seconds", lines[3])
        assert (qdir / f"fmt.status/{j}").read_text().strip() == "0"


def test_cpu_job_uses_cpu_rule_and_no_gres(env, tmp_path):
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf/slurm.conf").write_text(CONF)  # picked up without --config
    p = slurm_pl(env, tmp_path, "merge.log", "echo", "JOB")
    assert p.returncode == 0, p.stderr
    [args] = sbatch_calls(env)
    assert "--array=1-1" in args
    assert "--partition=cpu" in args and "--time=2:00:00" in args
    assert not any(a.startswith("--gres") or a == "--partition=gpu" for a in args)
    assert (tmp_path / "merge.log").read_text().splitlines()[2] == "JOB"


def test_failed_job_is_named_with_its_log(env, tmp_path):
    p = slurm_pl(env, tmp_path, "JOB=1:3", "log/x.JOB.log", "if [ JOB = 2 ]; then echo bad; exit 5; fi")
    assert p.returncode == 1
    assert "job 2 failed with exit code 5; log: log/x.2.log" in p.stderr
    assert "job 1 failed" not in p.stderr and "job 3 failed" not in p.stderr
    assert "1 of 3 jobs failed" in p.stderr and "    bad" in p.stderr


def test_task_killed_by_slurm_is_a_failure_and_stale_logs_are_removed(env, tmp_path):
    p = slurm_pl(env, tmp_path, "JOB=1:3", "log/k.JOB.log", "echo", "first run")
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "log/k.2.log").exists()
    p = slurm_pl(env, tmp_path, "JOB=1:3", "log/k.JOB.log", "echo", "second run", FAKE_SBATCH_SKIP="2")
    assert p.returncode == 1
    assert "job 2 ended without an exit status; log: log/k.2.log" in p.stderr
    assert f"{tmp_path}/log/q/k.2.slurm.out" in p.stderr
    assert not (tmp_path / "log/k.2.log").exists()  # no stale log from the first run
    assert "second run" in (tmp_path / "log/k.3.log").read_text()


def test_rejected_submission_shows_sbatch_message(env, tmp_path):
    p = slurm_pl(env, tmp_path, "JOB=1:2", "log/r.JOB.log", "true", FAKE_SBATCH_REJECT="1")
    assert p.returncode == 1
    assert "sbatch failed (exit code 1)" in p.stderr
    assert "invalid partition specified: nope" in p.stderr


def test_bad_config_rule_names_file_and_line(env, tmp_path):
    (tmp_path / "bad.conf").write_text("default --time=1:00:00\npartition gpu\n")
    p = slurm_pl(env, tmp_path, "--config", "bad.conf", "l.log", "true")
    assert p.returncode == 1
    assert "bad.conf:2: unknown rule 'partition'" in p.stderr
    assert not Path(env["FAKE_SBATCH_ARGS"]).exists()


def test_time_option_and_job_scripts_run_from_the_submit_dir(env, tmp_path):
    p = slurm_pl(env, tmp_path, "--time", "0:10:00", "JOB=2:3", "l/p.JOB.log", "pwd")
    assert p.returncode == 0, p.stderr
    [args] = sbatch_calls(env)
    assert "--time=0:10:00" in args and "--array=2-3" in args
    assert (tmp_path / "l/p.3.log").read_text().splitlines()[2] == str(tmp_path)


def test_interrupt_cancels_the_array_job(env, tmp_path):
    cmd = "touch started.JOB; until [ -e release ]; do sleep 0.1; done"
    # SIGINT at its default in the child even when pytest runs in the background (nohup ... &),
    # where it is ignored and bash could neither trap nor die of it
    proc = subprocess.Popen([SLURM_PL, "JOB=1:2", "log/i.JOB.log", cmd], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    for _ in range(600):
        if (tmp_path / "started.1").exists():
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGINT
    assert "got SIGINT; cancelling Slurm job 4242" in err
    assert (tmp_path / "scancel_args").read_text().split() == ["4242"]


# Kaldi / ESPnet's slurm.conf format.
KALDI_CONF = """command sbatch --export=PATH --ntasks-per-node=1
option time=* --time $0
option mem=* --mem-per-cpu $0
option mem=0          # nothing for --mem 0
option num_threads=* --cpus-per-task $0
option num_threads=1 --cpus-per-task 1
default gpu=0
option gpu=0 -p cpu
option gpu=* -p gpu --gres=gpu:$0
option name=* --job-name $0
"""


def test_kaldi_style_config(env, tmp_path):
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf/slurm.conf").write_text(KALDI_CONF)  # picked up without --config
    p = slurm_pl(env, tmp_path, "--mem", "2G", "--num_threads", 1, "--max_jobs_run", 2,
                 "JOB=1:3", "log/a.JOB.log", "echo", "JOB")
    assert p.returncode == 0, p.stderr
    p = slurm_pl(env, tmp_path, "--config", "conf/slurm.conf", "--gpu", 2, "--num-threads", 4, "--mem", 0,
                 "--time", "4:00:00", "--name", "mine", "log/b.log", "echo", "one")
    assert p.returncode == 0, p.stderr
    first, second = sbatch_calls(env)
    qdir = tmp_path / "log/q"
    # ours, then the command's options, then the rules' in the config's line order
    # (the default gpu=0 picks "-p cpu"; --max_jobs_run is the array's throttle)
    assert first == ["--wait", "--job-name=a", "--array=1-3%2", f"--output={qdir}/a.%a.slurm.out",
                     "--export=PATH", "--ntasks-per-node=1", "--mem-per-cpu", "2G", "--cpus-per-task", "1",
                     "-p", "cpu", f"{qdir}/a.array.sh"]
    assert second == ["--wait", "--job-name=b", "--array=1-1", f"--output={qdir}/b.%a.slurm.out",
                      "--export=PATH", "--ntasks-per-node=1", "--time", "4:00:00", "--cpus-per-task", "4",
                      "-p", "gpu", "--gres=gpu:2", "--job-name", "mine", f"{qdir}/b.array.sh"]
    assert [(tmp_path / f"log/a.{j}.log").read_text().splitlines()[2] for j in (1, 2, 3)] == ["1", "2", "3"]
    assert (tmp_path / "log/b.log").read_text().splitlines()[2] == "one"


@pytest.mark.parametrize("conf,args,message", [
    (KALDI_CONF.replace("option time=* --time $0\n", ""), ["--time", "1:00:00"],
     "--time 1:00:00: c.conf has no rule for it; add 'option time=* OPTIONS...' ($0 is the value)"
     " or 'option time=1:00:00 OPTIONS...'"),
    ("default gpu=0\noption mem=* --mem=$0\n", [], "--gpu 0: c.conf has no rule for it"),
    ("command sbatch\ncpu --partition=cpu\n", [],
     "c.conf:2: a 'cpu' rule of slurm.pl's own format in a config of Kaldi's format (see c.conf:1)"),
    ("command sbatch\ncommand sbatch -A x\n", [], "c.conf:2: a second 'command' line"),
    ("default gpu=*\n", [], "c.conf:1: expected 'default NAME=VALUE'"),
    ("gpu --partition=gpu\n", ["--name", "x"], "unknown option --name"),
])
def test_kaldi_style_config_errors(env, tmp_path, conf, args, message):
    (tmp_path / "c.conf").write_text(conf)
    p = slurm_pl(env, tmp_path, "--config", "c.conf", *args, "l.log", "true")
    assert p.returncode == 1
    assert message in p.stderr and p.stderr.count("error:") == 1, p.stderr
    assert not Path(env["FAKE_SBATCH_ARGS"]).exists()


@pytest.mark.parametrize("conf", sorted(ROOT.glob("egs/*/s2st1/conf/slurm.conf")), ids=lambda p: str(p.parent.parent))
def test_recipe_configs_take_the_stage_options(env, tmp_path, conf):
    p = slurm_pl(env, tmp_path, "--config", conf, "--gpu", 1, "--mem", "2G", "--num_threads", 2, "--time", "1:00:00",
                 "l.log", "true")
    assert p.returncode == 0, p.stderr
    # the Kaldi-style example in its comments works too, once uncommented
    text = conf.read_text()
    example = [line[2:] for line in text[text.index("works too"):].splitlines()[1:]]
    (tmp_path / "k.conf").write_text("\n".join(example) + "\n")
    p = slurm_pl(env, tmp_path, "--config", "k.conf", "--gpu", 1, "--mem", "2G", "--num_threads", 2,
                 "--time", "1:00:00", "l.log", "true")
    assert p.returncode == 0, p.stderr
    assert sbatch_calls(env)[1][4:-1] == ["--export=ALL", "--mem-per-cpu", "2G", "--cpus-per-task", "2",
                                          "--time", "1:00:00", "--partition=gpu", "--gres=gpu:1"]
