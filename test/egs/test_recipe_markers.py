"""Done markers of s2st.sh against killed runs: stages 2 and 4 are SIGKILLed at several points
(the recipe and every job it started, as a power cut would), rerun, and must give a clean run's
result byte for byte with no temporary file left; changed options, --force and missing inputs."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

from s2s_plugin.data.io import TEMP_NAME

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "egs" / "TEMPLATE" / "s2st1"

DATA_SH = """#!/usr/bin/env bash
set -euo pipefail
mkdir -p data
cp -r ../prepared/train_xx data/
"""
# The job runner: utils/run.pl, counting its calls; after the call numbered $KILL_AFTER it
# touches kill.now and waits for the test to kill everything.
KILLER = """#!/usr/bin/env bash
n=$(( $(cat calls.n 2> /dev/null || echo 0) + 1 ))
echo "${n}" > calls.n
rc=0
utils/run.pl "$@" || rc=$?
if [ "${KILL_AFTER:-0}" -eq "${n}" ]; then touch kill.now; sleep 600; fi
exit "${rc}"
"""
CMD_SH = "export cmd=./killer.sh train_cmd=./killer.sh decode_cmd=./killer.sh\n"
ARGS = ("--train_sets", "train_xx", "--valid_sets", "", "--test_sets", "", "--src_langs", "xx", "--nj", "2",
        "--units_conf", "conf/units_mfcc.yaml", "--background", "false")
# values that are measurements (times, memory) or random ids, not results
VOLATILE = {"fit_id", "unit tokenizer fit", "process_seconds", "rtf", "fit_seconds", "setup_seconds", "extract_seconds",
            "extraction_rtf", "kmeans_seconds", "peak_rss_bytes", "rss_at_start_bytes", "traced_peak_bytes", "started", "finished"}


def write_set(d: Path, n: int = 6) -> None:
    (d / "wav").mkdir(parents=True)
    ids = [f"spk1-{i:02d}" for i in range(n)]
    t = np.arange(8000) / 8000
    for k, lang in enumerate(("xx", "en")):
        scp, text = [], []
        for i, u in enumerate(ids):
            path = d / "wav" / f"{u}.{lang}.wav"
            f0 = 150.0 + 40 * i + 25 * k
            x = 0.3 * np.sin(2 * np.pi * f0 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * (1 + i) * t))
            sf.write(path, x.astype(np.float32), 8000)
            scp.append(f"{u} {path}\n")
            text.append(f"{u} hello world {i}\n")
        (d / f"wav.scp.{lang}").write_text("".join(scp))
        (d / f"text.{lang}").write_text("".join(text))
    (d / "utt2spk").write_text("".join(f"{u} spk1\n" for u in ids))


@pytest.fixture(scope="module")
def recipe(tmp_path_factory):
    """A recipe from setup.sh after stage 1, whose job runner can stop at the k-th call."""
    tmp = tmp_path_factory.mktemp("markers")
    r = tmp / "egs" / "xx" / "s2st1"
    p = subprocess.run([str(TEMPLATE / "setup.sh"), str(r)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    write_set(r / "prepared" / "train_xx")
    (r / "local" / "data.sh").write_text(DATA_SH.replace("../prepared", str(r / "prepared")))
    units = (ROOT / "egs" / "mini_s2st" / "s2st1" / "conf" / "units_mfcc.yaml").read_text()
    (r / "conf" / "units_mfcc.yaml").write_text(units.replace("n_clusters: 300", "n_clusters: 8"))
    (r / "killer.sh").write_text(KILLER)
    (r / "killer.sh").chmod(0o755)
    (r / "cmd.sh").write_text(CMD_SH)
    rc, log, _ = run(r, 1, 1)
    assert rc == 0, log
    return r


def _descendants(root: int) -> list[int]:
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = Path(f"/proc/{d}/stat").read_text()
            except OSError:
                continue
            kids.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(d))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += kids.get(pid, [])
    return out


def kill_tree(root: int) -> None:
    """SIGSTOP the recipe and every process below it (jobs run in sessions of their own) until no
    new one appears, then SIGKILL them all: nothing runs on, no handler cleans up."""
    stopped: set[int] = set()
    while new := [p for p in _descendants(root) if p not in stopped]:
        for pid in new:
            with_pid(pid, signal.SIGSTOP)
            stopped.add(pid)
    for pid in stopped:
        with_pid(pid, signal.SIGKILL)


def with_pid(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def run(r: Path, stage: int, stop: int, *args, kill_after: int = 0, kill_when=None, timeout: float = 300):
    """Run stages stage..stop; kill everything after job-runner call ``kill_after`` or once
    ``kill_when(r)`` is true. Returns (exit code, log, killed)."""
    for f in ("calls.n", "kill.now"):
        (r / f).unlink(missing_ok=True)
    with open(r / "run.log", "w") as log:
        p = subprocess.Popen(["./run.sh", *ARGS, "--stage", str(stage), "--stop_stage", str(stop), *args], cwd=r,
                             stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                             env={**os.environ, "KILL_AFTER": str(kill_after)})
        killed, t0 = False, time.monotonic()
        while p.poll() is None and time.monotonic() - t0 < timeout:
            if (r / "kill.now").exists() or (kill_when is not None and kill_when(r)):
                kill_tree(p.pid)
                killed = True
                break
            time.sleep(0.005)
        else:
            if p.poll() is None:
                kill_tree(p.pid)
        rc = p.wait()
    return rc, (r / "run.log").read_text(), killed


def run_ok(r: Path, stage: int, stop: int, *args) -> str:
    rc, log, _ = run(r, stage, stop, *args)
    assert rc == 0, log
    return log


def _clean(value):
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def snapshot(r: Path, *tops: str) -> dict[str, object]:
    """Every file under ``tops`` (logs left out): its bytes, or for a marker or a JSON/YAML record
    its content without the measured times and random ids."""
    out = {}
    for top in tops:
        for path in sorted((r / top).rglob("*")):
            rel = str(path.relative_to(r))
            if not path.is_file() or "logs" in path.relative_to(r).parts or path.suffix == ".log":
                continue
            data = path.read_bytes()
            if path.name.startswith(".done.") or path.suffix in (".json", ".yaml", ".info") \
                    or path.name == ".format.done":
                out[rel] = _clean(yaml.safe_load(data) if path.suffix != ".json" else json.loads(data))
            else:
                out[rel] = data
    return out


def leftovers(r: Path) -> list[str]:
    return [str(p.relative_to(r)) for top in ("dump", "exp") for p in (r / top).rglob("*")
            if TEMP_NAME.match(p.name) or p.name == ".features.cache"]


def diff(a: dict, b: dict) -> list[str]:
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


def test_killed_stages_2_and_4_rerun_to_a_clean_runs_result(recipe):
    r = recipe
    run_ok(r, 2, 2)
    run_ok(r, 4, 4)  # (no stage 3: MFCC units need no model)
    ref2, ref4 = snapshot(r, "dump"), snapshot(r, "dump", "exp/units")
    assert "dump/train_xx/.done.stage2" in ref2 and "exp/units/centres.npy" in ref4 and not leftovers(r)
    audio = r / "dump" / "train_xx" / "audio"

    # stage 2, with --force true (it removes the marker first): in a job (a dump file rewritten),
    # after the jobs (the job runner returned), in the merge (a list rewritten), after the merge
    # (its summary written last) before the marker
    dump = r / "dump" / "train_xx"
    points2 = [lambda t0: any(newer(p, t0) for p in audio.rglob("*")), 1,
               lambda t0: newer(dump / "utt2num_samples.xx", t0), lambda t0: newer(dump / ".format.done", t0)]
    for point in points2:
        if (dump / ".done.stage2").exists():
            min(p for p in audio.rglob("*") if p.is_file()).unlink()  # damage that the rerun must repair
        rc, log, killed = run(r, 2, 2, "--force", "true", **kill_at(point))
        assert killed, (point, log)
        assert not (dump / ".done.stage2").exists(), point  # removed before the work
        rc, log, _ = run(r, 2, 2)  # no --force: the stage did not complete, so it runs
        assert rc == 0, log
        assert "done before" not in log, point
        assert not diff(snapshot(r, "dump"), ref2) and not leftovers(r), (point, diff(snapshot(r, "dump"), ref2))

    # stage 2 redone with the same options: stage 4 is still current
    rc, log, _ = run(r, 4, 4)
    assert rc == 0 and "units fit" not in log and "units label" not in log, log

    # stage 4: in the k-means fit (its feature cache exists), after the fit before its marker,
    # in a label job (it removed the merged units), in the label merge
    points4 = [lambda t0: (r / "exp/units/.features.cache").exists(), 1,
               lambda t0: not (dump / "units.xx").exists(), lambda t0: newer(dump / "units.xx", t0)]
    for point in points4:
        rc, log, killed = run(r, 4, 4, "--force", "true", **kill_at(point))
        assert killed, (point, log)
        rc, log, _ = run(r, 4, 4)
        assert rc == 0, log
        assert not diff(snapshot(r, "dump", "exp/units"), ref4) and not leftovers(r), \
            (point, diff(snapshot(r, "dump", "exp/units"), ref4))


def newer(path: Path, t0: float) -> bool:
    try:
        return path.is_file() and path.stat().st_mtime > t0
    except OSError:
        return False


def kill_at(point) -> dict:
    """``run`` arguments: kill after job-runner call ``point``, or once ``point(start time)`` holds."""
    if isinstance(point, int):
        return {"kill_after": point}
    t0 = time.time()
    return {"kill_when": lambda r: point(t0)}


def test_changed_option_reruns_stage_2_and_stage_4_refuses_its_changed_input(recipe):
    r = recipe
    run_ok(r, 2, 2)
    run_ok(r, 4, 4)
    rc, log, _ = run(r, 2, 2, "--fs", "8000")
    assert rc == 0, log
    assert "done before" not in log and "format_conf.fs: 16000 -> 8000" in log
    assert sf.info(min((r / "dump/train_xx/audio/en").iterdir())).samplerate == 8000
    # the k-means fit is a model: changed inputs stop it, naming them and how to force
    rc, log, _ = run(r, 4, 4, "--fs", "8000")
    assert rc == 2, log
    assert "stage 4: exp/units/.done.stage4 was made with other options or inputs" in log
    assert "input dump/train_xx/.done.stage2" in log and "--stage 4 --stop_stage 4 --force true" in log
    rc, log, _ = run(r, 4, 4, "--fs", "8000", "--force", "true")
    assert rc == 0, log
    # back to 16 kHz: stage 2 runs again, and stage 4 skips nothing it should not
    run_ok(r, 2, 2)
    rc, log, _ = run(r, 4, 4)
    assert rc == 2 and "--force true" in log, log
    run_ok(r, 4, 4, "--force", "true")
    assert sf.info(min((r / "dump/train_xx/audio/en").iterdir())).samplerate == 16000


def test_a_missing_input_marker_stops_the_stage_naming_the_command(recipe):
    r = recipe
    rc, log, _ = run(r, 2, 2)
    assert rc == 0, log
    (r / "dump/train_xx/.done.stage2").unlink()
    rc, log, _ = run(r, 4, 4)
    assert rc == 2, log
    assert "stage 4 needs dump/train_xx/.done.stage2, the done marker stage 2 writes when it completes" in log
    assert "did not run or did not finish" in log and "--stage 2 --stop_stage 2" in log
    assert "Stage 4 failed" in log
    rc, log, _ = run(r, 2, 2)
    assert rc == 0, log


def test_force_trains_a_training_stage_afresh_and_a_killed_one_resumes(recipe):
    """Stage 3 (a training stage): --force true trains a new model, it does not resume the old run's
    checkpoints (whose steps are all done) and export the old model as the new one."""
    r = recipe
    tiny = ("--ctc_args", "max_epoch=2 warmup_steps=2 max_valid_utts=2 encoder_conf.output_size=16 "
                          "encoder_conf.attention_heads=2 encoder_conf.linear_units=32 encoder_conf.num_blocks=1",
            "--valid_sets", "train_xx")
    run_ok(r, 2, 2)
    run_ok(r, 3, 3, *tiny)
    ckpts, train_log = r / "exp" / "ctc" / "checkpoints", r / "exp" / "ctc" / "train.log"
    assert (ckpts / "last.ckpt").is_file() and "resuming from" not in train_log.read_text()
    (ckpts / "old-run.txt").write_text("the finished run's resume state\n")
    log = run_ok(r, 3, 3, *tiny)
    assert "Stage 3: exp/ctc done before, skipped" in log and (ckpts / "old-run.txt").is_file()
    log = run_ok(r, 3, 3, *tiny, "--force", "true")
    assert "done before" not in log and not (ckpts / "old-run.txt").exists()
    assert (ckpts / "last.ckpt").is_file() and "resuming from" not in train_log.read_text()
    # a run killed after its first epoch's checkpoint, rerun with the same options, resumes it
    (r / "exp" / "ctc" / ".done.stage3").unlink()
    (ckpts / "last.ckpt").unlink()
    rc, log, killed = run(r, 3, 3, *tiny, kill_when=lambda rr: (ckpts / "last.ckpt").is_file())
    assert killed and rc != 0, log
    log = run_ok(r, 3, 3, *tiny)
    assert "resuming from" in train_log.read_text() and (r / "exp" / "ctc" / ".done.stage3").is_file()
