"""egs/mini_s2st/s2st1/run_compare.sh: the replication's runs side by side, their logs, their failures."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "egs" / "mini_s2st" / "s2st1"
SHARED = ("exp/lm/model/config.json", "exp/vocoder/.done.stage10", "exp/asr_en/.done.stage11")


@pytest.fixture
def recipe(tmp_path):
    """A copy of the mini recipe's scripts and configs, with the shared stage 7/10/11 outputs faked."""
    d = tmp_path / "s2st1"
    d.mkdir()
    for name in ("run.sh", "run_compare.sh", "path.sh", "cmd.sh"):
        shutil.copy2(RECIPE / name, d / name)
    shutil.copytree(RECIPE / "conf", d / "conf")
    (d / "s2st.sh").symlink_to(ROOT / "egs" / "TEMPLATE" / "s2st1" / "s2st.sh")
    (d / "utils").symlink_to(ROOT / "utils")
    for p in SHARED:
        (d / p).parent.mkdir(parents=True, exist_ok=True)
        (d / p).write_text("{}\n")
    return d


def run_compare(recipe: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["./run_compare.sh", *args], cwd=recipe, capture_output=True, text=True,
                          timeout=300, env=dict(os.environ))


def test_every_system_and_seed_runs_with_its_own_log(recipe):
    p = run_compare(recipe, "--systems", "baseline scheduled", "--seeds", "1 2", "--ablations", "mask",
                    "--ablation_seeds", "3", "--jobs", "2", "--run_opts", "--dry_run true")
    assert p.returncode == 0, p.stdout + p.stderr
    logs = sorted(x.name for x in (recipe / "exp" / "compare" / "logs").iterdir())
    assert logs == ["baseline_seed1.log", "baseline_seed2.log", "mask_seed3.log", "scheduled_seed1.log",
                    "scheduled_seed2.log"]
    for name in logs:
        text = (recipe / "exp" / "compare" / "logs" / name).read_text()
        system, seed = name[:-len(".log")].rsplit("_seed", 1)
        assert f"conf/train_{system}.yaml" in text and f"trainer.seed={seed}" in text
        assert "--nproc 1" in text or "launch --nproc 1" in text  # 2 jobs on 2 cores: one process each
        assert "Finished stages 8..11" in text
    assert "5 runs, 2 at a time" in p.stdout + p.stderr


def test_a_failed_run_names_its_log_and_fails_the_script(recipe):
    p = run_compare(recipe, "--systems", "baseline", "--seeds", "1 2", "--ablations", "",
                    "--run_opts", "--no_such_option x")
    assert p.returncode != 0
    out = p.stdout + p.stderr
    assert "2 run(s) failed" in out
    for seed in (1, 2):
        assert f"exp/compare/logs/baseline_seed{seed}.log" in out
        assert "no_such_option" in (recipe / "exp" / "compare" / "logs" / f"baseline_seed{seed}.log").read_text()


@pytest.mark.parametrize("missing", SHARED)
def test_missing_shared_outputs_are_named(recipe, missing):
    (recipe / missing).unlink()
    p = run_compare(recipe, "--systems", "baseline", "--seeds", "1", "--ablations", "")
    assert p.returncode != 0
    assert missing in p.stdout + p.stderr and "run ./run.sh" in p.stdout + p.stderr
    assert not (recipe / "exp" / "compare" / "logs").exists()


def test_unknown_system_is_refused_before_anything_runs(recipe):
    p = run_compare(recipe, "--systems", "baseline nosuch", "--seeds", "1", "--ablations", "")
    assert p.returncode != 0 and "conf/train_nosuch.yaml" in p.stdout + p.stderr
    assert not (recipe / "exp" / "compare" / "logs").exists()


def test_stopping_the_script_stops_the_runs_going(recipe):
    """A stand-in run.sh that records its pid and sleeps: SIGTERM to run_compare.sh ends both runs."""
    (recipe / "pids").mkdir()
    (recipe / "run.sh").write_text("#!/usr/bin/env bash\necho $$ > pids/$$\nsleep 120\n")
    (recipe / "run.sh").chmod(0o755)
    proc = subprocess.Popen(["./run_compare.sh", "--systems", "baseline", "--seeds", "1 2", "--ablations", ""],
                            cwd=recipe, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    for _ in range(200):
        if len(list((recipe / "pids").iterdir())) == 2:
            break
        time.sleep(0.05)
    pids = [int(p.name) for p in (recipe / "pids").iterdir()]
    assert len(pids) == 2
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    assert proc.returncode != 0
    for _ in range(100):
        if not any(Path(f"/proc/{pid}").exists() for pid in pids):
            break
        time.sleep(0.1)
    assert not any(Path(f"/proc/{pid}").exists() for pid in pids), "a run outlived run_compare.sh"
