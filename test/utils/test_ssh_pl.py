"""utils/ssh.pl against a stand-in ssh that records its arguments and runs the remote command here."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SSH_PL = str(ROOT / "utils" / "ssh.pl")

# Behaves like "ssh [options] HOST COMMAND": records its arguments (one file per
# call), then runs COMMAND with bash from / (a login starts elsewhere than the
# submit dir), ignoring the host. FAKE_SSH_DOWN=HOST fails as an unreachable host.
FAKE_SSH = r"""#!/usr/bin/env bash
printf '%s\n' "$@" > "${FAKE_SSH_ARGS}/$$"
while [ $# -gt 0 ]; do
    case "$1" in
        -o | -p | -i | -l) shift 2 ;;
        -*) shift ;;
        *) break ;;
    esac
done
host=$1
shift
if [ "${host}" = "${FAKE_SSH_DOWN:-}" ]; then
    echo "ssh: connect to host ${host} port 22: Connection refused" >&2
    exit 255
fi
cd / && exec bash -c "$*"
"""


@pytest.fixture
def env(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "ssh").write_text(FAKE_SSH)
    (bindir / "ssh").chmod(0o755)
    (tmp_path / "ssh_args").mkdir()
    e = {k: v for k, v in os.environ.items() if k != "FROM_PATH_SH"}
    e["PATH"] = f"{bindir}{os.pathsep}{e['PATH']}"
    e["FAKE_SSH_ARGS"] = str(tmp_path / "ssh_args")
    return e


def ssh_pl(env, cwd, *args, **extra_env):
    return subprocess.run([SSH_PL, *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          env={**env, **extra_env}, timeout=60)


def ssh_calls(env) -> list[list[str]]:
    return [f.read_text().splitlines() for f in Path(env["FAKE_SSH_ARGS"]).iterdir()]


def write_hosts(tmp_path, text="# our machines\nnode-a\n\nme@node-b  # the big one\n"):
    (tmp_path / ".queue").mkdir()
    (tmp_path / ".queue/machines").write_text(text)


def test_jobs_go_round_robin_over_the_hosts_with_per_job_logs(env, tmp_path):
    write_hosts(tmp_path)
    (tmp_path / "path.sh").write_text("export FROM_PATH_SH=yes\n")  # the remote shell sources it
    p = ssh_pl(env, tmp_path, "--gpu", 1, "--mem", "2G", "JOB=1:3", "exp/log/f.JOB.log",
               "echo job JOB on | tr a-z A-Z && echo ${FROM_PATH_SH:-no}:$(pwd)")
    assert p.returncode == 0, p.stderr
    qdir = tmp_path / "exp/log/q"
    by_job = {}
    for args in ssh_calls(env):
        assert args[:4] == ["-n", "-tt", "-o", "BatchMode=yes"]
        [job] = re.fullmatch(rf"bash '{qdir}/f\.(\d)\.sh'", args[5]).groups()
        by_job[int(job)] = args[4]
    assert by_job == {1: "node-a", 2: "me@node-b", 3: "node-a"}
    for j in (1, 2, 3):
        lines = (tmp_path / f"exp/log/f.{j}.log").read_text().splitlines()
        assert lines[0] == f"# echo job {j} on | tr a-z A-Z && echo ${{FROM_PATH_SH:-no}}:$(pwd)"
        assert lines[1].startswith("# Started at ")
        assert lines[2:4] == [f"JOB {j} ON", f"yes:{tmp_path}"]
        assert re.fullmatch(r"# Ended \(code 0\) at .+, elapsed time \d+ seconds", lines[4])


def test_failed_job_is_named_with_its_log(env, tmp_path):
    write_hosts(tmp_path)
    p = ssh_pl(env, tmp_path, "--max_jobs_run", 1, "JOB=1:3", "log/x.JOB.log",
               "if [ JOB = 3 ]; then echo bad; exit 4; fi")
    assert p.returncode == 1
    assert "job 3 failed with exit code 4; log: log/x.3.log" in p.stderr
    assert "job 1 failed" not in p.stderr and "job 2 failed" not in p.stderr
    assert "1 of 3 jobs failed" in p.stderr and "    bad" in p.stderr


def test_unreachable_host_is_named_with_sshs_messages(env, tmp_path):
    (tmp_path / "hosts").write_text("up1\ndown\n")
    p = ssh_pl(env, tmp_path, "--config", "hosts", "JOB=1:2", "log/u.JOB.log", "echo", "ok", FAKE_SSH_DOWN="down")
    assert p.returncode == 1
    assert "job 2 ended without an exit status; log: log/u.2.log" in p.stderr
    ssh_log = tmp_path / "log/q/u.2.ssh.log"
    assert f"job 2 ran on down; ssh ended with code 255; its messages: {ssh_log}" in p.stderr
    assert "Connection refused" in ssh_log.read_text()
    assert (tmp_path / "log/u.1.log").read_text().splitlines()[2] == "ok"


@pytest.mark.parametrize("hosts,args,message", [
    (None, [], "no hosts file .queue/machines: list the machines there"),
    ("# none\n", [], ".queue/machines lists no host"),
    ("a b\n", [], "one host per line, not 'a b'"),
    ("a\n", ["--partition", "gpu"], "unknown option --partition"),
])
def test_usage_errors(env, tmp_path, hosts, args, message):
    if hosts is not None:
        write_hosts(tmp_path, hosts)
    p = ssh_pl(env, tmp_path, *args, "l.log", "true")
    assert p.returncode == 1 and message in p.stderr
    assert not list(Path(env["FAKE_SSH_ARGS"]).iterdir())


def test_interrupt_ends_the_ssh_sessions_and_their_jobs(env, tmp_path):
    write_hosts(tmp_path)
    # each job waits for the file "release"; a job that outlived ssh.pl would then write late.JOB
    cmd = "touch started.JOB; until [ -e release ]; do sleep 0.1; done; touch late.JOB"
    proc = subprocess.Popen([SSH_PL, "JOB=1:2", "log/i.JOB.log", cmd], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    for _ in range(600):
        if (tmp_path / "started.1").exists() and (tmp_path / "started.2").exists():
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGINT
    assert "got SIGINT; ending the ssh sessions of the running jobs" in err
    (tmp_path / "release").touch()
    time.sleep(0.5)
    assert not list(tmp_path.glob("late.*"))
