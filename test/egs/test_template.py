"""egs/TEMPLATE/s2st1: setup.sh makes a working recipe; s2st.sh stages, done markers, resume hints."""
from __future__ import annotations

import filecmp
import os
import re
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "egs" / "TEMPLATE" / "s2st1"

# A local/data.sh that counts its calls and copies a prepared data dir into place.
FAKE_DATA_SH = """#!/usr/bin/env bash
set -euo pipefail
echo "$*" >> calls.txt
echo "preparing the fake corpus"
mkdir -p data
cp -r ../prepared/* data/
"""


def sh(args, cwd, **env):
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={**os.environ, **env})


def make_recipe(tmp_path: Path) -> Path:
    recipe = tmp_path / "egs" / "mycorpus" / "s2st1"
    p = sh([str(TEMPLATE / "setup.sh"), str(recipe)], cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    return recipe


def write_prepared_set(root: Path, n: int = 3, name: str = "train_xx") -> None:
    d = root / name
    (d / "wav").mkdir(parents=True)
    ids = [f"spk1-{i:02d}" for i in range(n)]
    t = np.arange(8000) / 8000
    for lang, freq in (("xx", 220.0), ("en", 330.0)):
        scp, text = [], []
        for u in ids:
            path = d / "wav" / f"{u}.{lang}.wav"
            sf.write(path, (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), 8000)
            scp.append(f"{u} {path}\n")
            text.append(f"{u} hello world\n")
        (d / f"wav.scp.{lang}").write_text("".join(scp))
        (d / f"text.{lang}").write_text("".join(text))
    (d / "utt2spk").write_text("".join(f"{u} spk1\n" for u in ids))


@pytest.fixture
def fake_recipe(tmp_path):
    """A recipe from setup.sh whose local/data.sh makes one small valid set, train_xx."""
    recipe = make_recipe(tmp_path)
    write_prepared_set(recipe / "prepared")
    (recipe / "local" / "data.sh").write_text(FAKE_DATA_SH.replace("../prepared", str(recipe / "prepared")))
    return recipe


def run_recipe(recipe: Path, *args):
    return sh(["./run.sh", "--train_sets", "train_xx", "--valid_sets", "", "--test_sets", "", *map(str, args)],
              cwd=recipe)


# setup.sh --from BASE: conf/<name> of the new recipe <- the base recipe's file
BASE_CONFS = {
    "mini_s2st": {n: f"conf/{n}" for n in ("format.yaml", "ctc.yaml", "units.yaml", "align.yaml", "vocab.yaml",
                                          "pretrain_text.yaml", "train_scheduled.yaml", "decode.yaml",
                                          "vocoder.yaml", "asr_en.yaml", "score.yaml")},
    "cvss": {"format.yaml": "conf/format.yaml", "units.yaml": "conf/tuning/units.yaml",
             "align.yaml": "conf/tuning/align.yaml", "vocab.yaml": "conf/tuning/vocab.yaml",
             "train_scheduled.yaml": "conf/tuning/train_scheduled.yaml", "decode.yaml": "conf/tuning/decode.yaml",
             "vocoder.yaml": "conf/tuning/vocoder_unit_hifigan.yaml",
             "score.yaml": "conf/tuning/score_whisper.yaml"},
}


@pytest.mark.parametrize("base", [None, *BASE_CONFS])
def test_setup_makes_the_recipe_layout(tmp_path, base):
    recipe = tmp_path / "egs" / "mycorpus" / "s2st1"
    p = sh([str(TEMPLATE / "setup.sh"), str(recipe), *(["--from", base] if base else [])], cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    base = base or "mini_s2st"  # the default
    assert (recipe / "utils").is_symlink() and (recipe / "s2st.sh").is_symlink()
    assert not os.path.isabs(os.readlink(recipe / "utils"))  # relative links
    assert (recipe / "utils").resolve() == ROOT / "utils"
    assert (recipe / "s2st.sh").resolve() == TEMPLATE / "s2st.sh"
    for name in ("path.sh", "cmd.sh", "conf/slurm.conf", "conf/queue.conf", "conf/pbs.conf"):
        assert not (recipe / name).is_symlink() and filecmp.cmp(recipe / name, TEMPLATE / name, shallow=False)
    # every stage's config: the base's file under a note that names it and what to change
    assert sorted(p.name for p in (recipe / "conf").glob("*.yaml")) == sorted(BASE_CONFS[base])
    for name, src in BASE_CONFS[base].items():
        text, original = (recipe / "conf" / name).read_text(), (ROOT / "egs" / base / "s2st1" / src).read_text()
        note, _, rest = text.partition("\n#\n")
        assert rest == original, name
        assert f"copied by egs/TEMPLATE/s2st1/setup.sh from\n# egs/{base}/s2st1/{src}. For a new corpus:" in note
        assert len(note.splitlines()) >= 5, name  # the note says something
    run_sh = (recipe / "run.sh").read_text()
    assert f"egs/{base}/s2st1" in run_sh and "@" not in run_sh.replace('"$@"', "")
    for name in BASE_CONFS[base]:
        assert f"conf/{name}" in run_sh, name
    assert ('ctc_import="downloads/w2v-bert-2.0-ctc"' in run_sh) == (base == "cvss")
    assert ('pretrain_conf="conf/pretrain_text.yaml"' in run_sh) == (base == "mini_s2st")
    assert filecmp.cmp(recipe / "local" / "data.sh", TEMPLATE / "skel" / "local" / "data.sh", shallow=False)
    assert os.access(recipe / "run.sh", os.X_OK) and os.access(recipe / "local" / "data.sh", os.X_OK)
    assert [p.name for p in recipe.parent.iterdir()] == ["s2st1"]  # no temporary dir left
    # the dry run of the made recipe names every config, and each exists
    p = sh(["./run.sh", "--dry_run", "true"], cwd=recipe)
    assert p.returncode == 0, p.stderr
    named = set(re.findall(r"--config (conf/\S+)", p.stdout))
    assert named == {f"conf/{n}" for n in BASE_CONFS[base]}


def test_setup_refuses_an_unknown_base(tmp_path):
    p = sh([str(TEMPLATE / "setup.sh"), str(tmp_path / "new"), "--from", "librispeech"], cwd=tmp_path)
    assert p.returncode == 1 and "--from must be mini_s2st or cvss, not 'librispeech'" in p.stderr
    assert not (tmp_path / "new").exists()


def test_setup_in_the_repo_layout_links_like_espnet(tmp_path):
    # The relative links for egs/<corpus>/s2st1 inside the repo are the usual ones.
    assert os.readlink(ROOT / "egs" / "mini_s2st" / "s2st1" / "utils") == "../../../utils"
    assert os.readlink(ROOT / "egs" / "mini_s2st" / "s2st1" / "s2st.sh") == "../../TEMPLATE/s2st1/s2st.sh"


def test_setup_refuses_an_existing_dir(tmp_path):
    recipe = make_recipe(tmp_path)
    (recipe / "run.sh").write_text("# mine\n")
    p = sh([str(TEMPLATE / "setup.sh"), str(recipe)], cwd=tmp_path)
    assert p.returncode == 1
    assert "already exists; refusing to overwrite" in p.stderr
    assert (recipe / "run.sh").read_text() == "# mine\n"
    p = sh([str(TEMPLATE / "setup.sh")], cwd=tmp_path)
    assert p.returncode == 1 and "Usage:" in p.stderr


def test_skeleton_recipe_fails_with_the_placeholder_message_and_resume_hint(tmp_path):
    recipe = make_recipe(tmp_path)
    p = sh(["./run.sh", "--stage", "1", "--stop_stage", "1"], cwd=recipe)
    assert p.returncode != 0
    assert "write your data preparation here" in p.stderr
    assert "Stage 1 failed" in p.stderr
    hint = p.stderr.strip().splitlines()[-1]
    assert hint.startswith(f"  cd {recipe} && ./s2st.sh ") and hint.endswith(" --stop_stage 1 --stage 1")
    assert hint.count("--stage ") == 1  # the original --stage is replaced
    assert not (recipe / "data" / ".done.stage1").exists()


def test_help_lists_options_and_current_values(tmp_path):
    recipe = make_recipe(tmp_path)
    p = sh(["./s2st.sh", "--nj", "7", "--help"], cwd=recipe)
    assert p.returncode == 0, p.stderr
    for opt in ("--stage", "--stop_stage", "--nj", "--src_langs", "--tgt_lang", "--train_sets", "--valid_sets",
                "--test_sets", "--datadir", "--dumpdir", "--expdir", "--local_data_opts", "--fs",
                "--format_conf", "--python", "--force"):
        assert f"  {opt} " in p.stdout
    assert "  --nj 7" in p.stdout.split("Current values:")[1].splitlines()


def test_unknown_option_and_missing_sets_are_errors(tmp_path):
    recipe = make_recipe(tmp_path)
    p = sh(["./s2st.sh", "--stages", "3"], cwd=recipe)
    assert p.returncode == 1 and "unknown option --stages" in p.stderr
    p = sh(["./s2st.sh", "--stage", "1"], cwd=recipe)
    assert p.returncode == 1 and "no data sets" in p.stderr
    p = sh([str(recipe / "s2st.sh"), "--help"], cwd=tmp_path)
    assert p.returncode == 1 and "run me from a recipe dir" in p.stderr


def test_done_marker_skips_stage_1_on_rerun_and_force_reruns(fake_recipe):
    r = fake_recipe
    p = run_recipe(r, "--stage", "1", "--stop_stage", "1", "--local_data_opts", "--a 1")
    assert p.returncode == 0, p.stderr
    assert (r / "calls.txt").read_text() == "--a 1\n"
    assert (r / "data" / ".done.stage1").is_file()
    assert "train_xx: OK: 3 utterances" in p.stderr  # s2s data validate ran on the set
    log = (r / "data" / "logs" / "data.log").read_text()
    assert "preparing the fake corpus" in log and "train_xx: OK: 3 utterances" in log

    p = run_recipe(r, "--stage", "1", "--stop_stage", "1", "--local_data_opts", "--a 1")
    assert p.returncode == 0, p.stderr
    assert "Stage 1: done before" in p.stderr
    assert (r / "calls.txt").read_text() == "--a 1\n"  # not called again

    p = run_recipe(r, "--stage", "1", "--stop_stage", "1", "--local_data_opts", "--a 1", "--force", "true")
    assert p.returncode == 0, p.stderr
    assert len((r / "calls.txt").read_text().splitlines()) == 2

    # other data options (or other sets) are other work: the marker does not cover them
    p = run_recipe(r, "--stage", "1", "--stop_stage", "1", "--local_data_opts", "--a 2")
    assert p.returncode == 0, p.stderr
    assert (r / "calls.txt").read_text().splitlines()[-1] == "--a 2"

    (r / "data" / ".done.stage1").unlink()
    p = run_recipe(r, "--stage", "1", "--stop_stage", "1", "--local_data_opts", "--a 2")
    assert p.returncode == 0, p.stderr
    assert len((r / "calls.txt").read_text().splitlines()) == 4


def test_invalid_data_stops_stage_1_without_marker(fake_recipe):
    r = fake_recipe
    utt2spk = r / "prepared" / "train_xx" / "utt2spk"
    utt2spk.write_text(utt2spk.read_text().splitlines()[0] + "\n")  # two utterances lose their speaker
    p = run_recipe(r, "--stage", "1", "--stop_stage", "1")
    assert p.returncode != 0
    assert "utt2spk" in p.stderr and "Stage 1 failed" in p.stderr
    assert not (r / "data" / ".done.stage1").exists()


def test_stage_2_formats_with_parallel_jobs_then_skips(fake_recipe):
    r = fake_recipe
    p = run_recipe(r, "--stage", "1", "--stop_stage", "2", "--nj", "2", "--fs", "16000")
    assert p.returncode == 0, p.stderr
    dump = r / "dump" / "train_xx"
    for lang in ("xx", "en"):
        scp = dict(line.split(" ", 1) for line in (dump / f"wav.scp.{lang}").read_text().splitlines())
        assert sorted(scp) == ["spk1-00", "spk1-01", "spk1-02"]
        assert sf.info(r / scp["spk1-01"].strip()).samplerate == 16000
    for log in ("format.1.log", "format.2.log"):  # the job runner's logs, its header the job's command
        text = (dump / "logs" / log).read_text()
        assert "--fs 16000" in text.splitlines()[0] and "# Ended (code 0)" in text
    assert "--job 2" in (dump / "logs" / "format.2.log").read_text().splitlines()[0]
    merge_log = (dump / "logs" / "format.merge.log").read_text()
    assert "format merge: data/train_xx -> dump/train_xx: kept 3 of 3" in merge_log
    assert (dump / ".done.stage2").is_file()

    before = (dump / "logs" / "format.1.log").read_text()
    p = run_recipe(r, "--stage", "2", "--stop_stage", "2", "--nj", "2")
    assert p.returncode == 0, p.stderr
    assert "Stage 2: train_xx done before, skipped" in p.stderr
    assert (dump / "logs" / "format.1.log").read_text() == before


def test_stage_2_failure_names_the_log_and_resume_command(fake_recipe):
    r = fake_recipe
    assert run_recipe(r, "--stage", "1", "--stop_stage", "1").returncode == 0
    (r / "prepared" / "train_xx" / "wav" / "spk1-00.en.wav").write_bytes(b"broken")  # in job 1 of 2
    p = run_recipe(r, "--stage", "2", "--nj", "2")
    assert p.returncode != 0
    assert "log: dump/train_xx/logs/format.1.log" in p.stderr  # the job runner names the failed job's log
    assert "cannot read audio" in p.stderr  # and shows its end
    assert "format job 1 of 2 did not finish (no dump/train_xx/format.split2/1/done.json); see " \
           "dump/train_xx/logs/format.1.log" in p.stderr
    assert re.search(r"Stage 2 failed", p.stderr)
    assert p.stderr.strip().splitlines()[-1].endswith("--nj 2 --stage 2")
    assert not (r / "dump" / "train_xx" / ".done.stage2").exists()
    # a config error stops the stage before any job starts
    (r / "conf" / "format.yaml").write_text("fs: 16000\nno_such_key: 1\n")
    p = run_recipe(r, "--stage", "2", "--nj", "2")
    assert p.returncode != 0 and "no_such_key" in p.stderr and "Stage 2 failed" in p.stderr


def test_cmd_sh_backends(tmp_path):
    recipe = make_recipe(tmp_path)
    show = ". ./cmd.sh && echo \"$cmd|$train_cmd|$decode_cmd\""
    expected = {
        None: "utils/run.pl|utils/run.pl|utils/run.pl",
        "slurm": "utils/slurm.pl --config conf/slurm.conf|utils/slurm.pl --config conf/slurm.conf --gpu 1|"
                 "utils/slurm.pl --config conf/slurm.conf --gpu 1",
        "sge": "utils/queue.pl --config conf/queue.conf|utils/queue.pl --config conf/queue.conf --gpu 1|"
               "utils/queue.pl --config conf/queue.conf --gpu 1",
        "pbs": "utils/queue.pl --pbs true --config conf/pbs.conf|"
               "utils/queue.pl --pbs true --config conf/pbs.conf --gpu 1|"
               "utils/queue.pl --pbs true --config conf/pbs.conf --gpu 1",
        "ssh": "utils/ssh.pl|utils/ssh.pl|utils/ssh.pl",
    }
    for backend, runners in expected.items():
        p = sh(["bash", "-c", show], cwd=recipe, **({"cmd_backend": backend} if backend else {}))
        assert p.stdout.strip() == runners, backend
        for runner in runners.split("|"):  # the runner and its config exist in the recipe
            words = runner.split()
            assert (recipe / words[0]).is_file()
            assert "--config" not in words or (recipe / words[words.index("--config") + 1]).is_file()
    p = sh(["bash", "-c", "set -e; . ./cmd.sh; echo after"], cwd=recipe, cmd_backend="lsf")
    assert p.returncode != 0 and "unknown cmd_backend 'lsf'; use local, slurm, sge, pbs or ssh" in p.stderr
    assert "after" not in p.stdout


def test_path_sh_environment(tmp_path):
    recipe = make_recipe(tmp_path)
    show = ("set -u; . ./path.sh && "
            "echo \"$S2S_ROOT|${VIRTUAL_ENV:-none}|$PYTHONUNBUFFERED|$OMP_NUM_THREADS|$(command -v python)\"")
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "VIRTUAL_ENV")}
    p = subprocess.run(["bash", "-c", show], cwd=recipe, capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stderr
    root, venv, unbuffered, threads, python = p.stdout.strip().split("|")
    assert (root, unbuffered, threads) == (str(ROOT), "1", "1")
    assert (ROOT / "tools" / "venv" / "bin" / "python").exists()  # the suite runs in the venv
    assert venv == str(ROOT / "tools" / "venv") and python == f"{venv}/bin/python"
    p = subprocess.run(["bash", "-c", show], cwd=recipe, capture_output=True, text=True,
                       env={**env, "OMP_NUM_THREADS": "4"})
    assert p.stdout.strip().split("|")[3] == "4"


@pytest.mark.parametrize("conf", sorted(ROOT.glob("egs/*/s2st1/conf/format.yaml")),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_recipe_format_configs_load(conf):
    from s2s_plugin.config import from_dict, load_yaml
    from s2s_plugin.data.format import FormatConfig

    cfg = from_dict(FormatConfig, load_yaml(conf), where=str(conf))
    assert cfg.fs == 16000 and 0 < cfg.min_duration < cfg.max_duration


def test_mini_recipe_sets_and_languages():
    p = sh(["./run.sh", "--help"], cwd=ROOT / "egs" / "mini_s2st" / "s2st1")
    assert p.returncode == 0, p.stderr
    current = p.stdout.split("Current values:")[1].splitlines()
    for line in ('  --src_langs "fr es pt"', "  --tgt_lang en", '  --train_sets "train_fr train_es train_pt"',
                 '  --valid_sets "dev_fr dev_es dev_pt"', '  --test_sets "test_fr test_es test_pt"',
                 "  --format_conf conf/format.yaml"):
        assert line in current


def test_dry_run_prints_every_stage_command_and_writes_nothing(fake_recipe):
    r = fake_recipe
    before = sorted(p.relative_to(r) for p in r.rglob("*"))
    p = sh(["./run.sh", "--train_sets", "train_xx", "--valid_sets", "dev_xx", "--test_sets", "test_xx",
            "--src_langs", "xx", "--dry_run", "true", "--pretrain_conf", "conf/pretrain_text.yaml",
            "--train_conf", "conf/train_baseline.yaml", "--nj", "3"], cwd=r)
    assert p.returncode == 0, p.stderr
    out = p.stdout + p.stderr
    for stage in range(1, 12):
        assert f"Stage {stage}:" in out, stage
    # the commands of a few stages, with the sets, configs and job counts filled in
    assert "local/data.sh" in out
    assert "ctc train --config conf/ctc.yaml --exp exp/ctc --train_dirs dump/train_xx --valid_dirs dump/dev_xx" in out
    assert "units label --exp exp/units --dir dump/test_xx --nj 3 --cmd utils/run.pl" in out
    assert "pretrain-text --config conf/pretrain_text.yaml" in out
    assert "s2s train --config conf/train_baseline.yaml --exp exp/s2st_baseline" in out
    assert "decode --model_dir exp/s2st_baseline/model --dir dump/test_xx" in out
    assert "score --config conf/score.yaml --exp exp/s2st_baseline --sets test_xx" in out
    assert sorted(p.relative_to(r) for p in r.rglob("*")) == before  # nothing ran, nothing was written


@pytest.mark.parametrize("gpu", ["true", "false"])
def test_gpu_inference_sends_feature_and_alignment_jobs_to_the_gpu_runner(fake_recipe, gpu):
    args = ["./run.sh", "--train_sets", "train_xx", "--valid_sets", "", "--test_sets", "", "--src_langs", "xx",
            "--dry_run", "true", "--stage", "4", "--stop_stage", "5", "--gpu_inference", gpu]
    p = sh(args, cwd=fake_recipe, cmd_backend="slurm")
    assert p.returncode == 0, p.stderr
    jobs = [line for line in p.stdout.splitlines() if "--cmd utils/slurm.pl" in line]
    assert len(jobs) == 2 and all(("units label" in j) != ("align --config" in j) for j in jobs)
    assert all(("--gpu 1" in j) == (gpu == "true") for j in jobs), jobs
    bad = sh(args[:-1] + ["yes"], cwd=fake_recipe)
    assert bad.returncode != 0 and "option --gpu_inference takes true or false, not 'yes'" in bad.stderr


# A stand-in for the recipe's Python: it logs each s2s verb's start and end (except the done
# markers' `s2s marker`, which it runs for real); `ctc train` of
# the scoring ASR (exp/asr_*) and of stage 3 sleep and may fail, as the environment says.
FAKE_PYTHON = """#!/usr/bin/env bash
[ "$3" != marker ] || exec python "$@"  # the done markers are real
shift 2  # -m s2s_plugin.bin.main
echo "$(date +%s.%N) start $*" >> "${CALLS}"
case "$*" in
    *"ctc train"*"exp/asr_"*)
        echo $$ > "${CALLS}.asr_pid"; sleep "${ASR_SLEEP:-1}"
        [ -z "${ASR_FAIL:-}" ] || { echo "the scoring ASR broke" >&2; exit 3; } ;;
    *"ctc train"*)
        sleep "${CTC_SLEEP:-1}"; [ -z "${CTC_FAIL:-}" ] || { echo "the CTC model broke" >&2; exit 4; } ;;
esac
echo "$(date +%s.%N) end $*" >> "${CALLS}"
"""


@pytest.fixture
def formatted_recipe(fake_recipe):
    """fake_recipe after stages 1-2 of train_xx and test_xx, with a stand-in Python for stages 3-11
    (see FAKE_PYTHON)."""
    write_prepared_set(fake_recipe / "prepared", name="test_xx")
    p = run_recipe(fake_recipe, "--stage", "1", "--stop_stage", "2", "--nj", "1", "--test_sets", "test_xx")
    assert p.returncode == 0, p.stderr
    for name in ("ctc", "units", "align", "vocab", "train_scheduled", "decode", "vocoder", "asr_en", "score"):
        (fake_recipe / "conf" / f"{name}.yaml").write_text("{}\n")  # the done markers record the configs
    fake = fake_recipe / "fake_python"
    fake.write_text(FAKE_PYTHON)
    fake.chmod(0o755)
    return fake_recipe


def run_fake(recipe: Path, *args, **env):
    calls = recipe / "calls.log"
    calls.unlink(missing_ok=True)
    p = subprocess.run(["./run.sh", "--train_sets", "train_xx", "--valid_sets", "", "--test_sets", "test_xx",
                        "--pretrain_conf", "", "--python", str(recipe / "fake_python"), *map(str, args)], cwd=recipe, capture_output=True,
                       text=True, timeout=120, env={**os.environ, "CALLS": str(calls), **env})
    lines = calls.read_text().splitlines() if calls.is_file() else []
    return p, [line.split(" ", 2) for line in lines]


def verb(cmd: str) -> str:
    """'ctc train --config ... --exp exp/asr_en ...' -> 'ctc train asr' (the scoring ASR), others 'ctc train'."""
    return cmd.split(" --")[0] + (" asr" if "--exp exp/asr_" in cmd else "")


def test_scoring_asr_trains_beside_stage_3_and_stage_11_waits_for_it(formatted_recipe):
    r = formatted_recipe
    p, calls = run_fake(r, "--stage", "3", "--stop_stage", "11", ASR_SLEEP="3")
    assert p.returncode == 0, p.stderr
    when = {(what, verb(cmd)): float(t) for t, what, cmd in calls}
    # the ASR starts before stage 3's CTC training ends, and ends after it (it runs beside it)
    assert when[("start", "ctc train asr")] < when[("end", "ctc train")] < when[("end", "ctc train asr")]
    # the vocoder fit starts once stage 4 is done, before the alignment of stage 5 ends
    assert when[("end", "units label")] <= when[("start", "vocoder fit")] < when[("end", "align")]
    assert when[("end", "ctc train asr")] < when[("start", "score")]  # stage 11 waited
    assert when[("end", "vocoder fit")] < when[("start", "vocoder synth")]  # stage 10 waited
    assert "Started in the background: asr_training" in p.stderr
    assert (r / "exp" / "asr_en" / ".done.stage11").is_file() and (r / "exp" / "vocoder" / ".done.stage10").is_file()
    assert "# Ended (code 0)" in (r / "exp" / "asr_en" / "logs" / "ctc_train.log").read_text()

    # a rerun finds both done and starts nothing in the background
    p, calls = run_fake(r, "--stage", "3", "--stop_stage", "11")
    assert p.returncode == 0, p.stderr
    assert "in the background" not in p.stderr
    assert not [c for c in calls if "vocoder fit" in c[2] or "--exp exp/asr_" in c[2]]


def test_a_failed_background_job_stops_the_stage_that_needs_it_naming_its_log(formatted_recipe):
    r = formatted_recipe
    p, _ = run_fake(r, "--stage", "3", "--stop_stage", "11", ASR_FAIL="1")
    assert p.returncode != 0
    log = "exp/asr_en/logs/ctc_train.log"
    assert f"the background job asr_training failed (exit code 3); see {log}" in p.stderr  # the job's own code
    assert "the scoring ASR broke" in (r / log).read_text()
    assert "Stage 11 failed" in p.stderr and p.stderr.strip().endswith("--stage 11")
    assert not (r / "exp" / "asr_en" / ".done.stage11").exists()


def test_a_background_job_is_judged_by_its_log_footer_not_by_wait(formatted_recipe):
    """bash forgets a finished job's status once its pid is reused (pid_max wraps on a busy machine):
    the recipe takes the exit code from the job log's footer, so a job runner that died before
    writing one is an error naming the log, even though its process exited 0."""
    r = formatted_recipe
    runner = r / "footerless_run.sh"  # runs the job like run.pl, but writes no footer
    runner.write_text('#!/usr/bin/env bash\nlog=$1; shift; mkdir -p "$(dirname "$log")"; "$@" > "$log" 2>&1; '
                      'exit 0\n')
    runner.chmod(0o755)
    cmd_sh = r / "cmd.sh"
    original = cmd_sh.read_text()
    cmd_sh.write_text(original + f'\ntrain_cmd="{runner}"\n')
    try:
        p, _ = run_fake(r, "--stage", "3", "--stop_stage", "11")
    finally:
        cmd_sh.write_text(original)
    assert p.returncode != 0
    # the vocoder fit (stage 10 waits for it first) runs through the same runner
    assert ("the background job vocoder_fit ended without writing its exit code (killed?); see "
            "exp/vocoder/logs/fit.log") in p.stderr
    assert "Stage 10 failed" in p.stderr and not (r / "exp" / "vocoder" / ".done.stage10").exists()


def test_a_failed_stage_stops_the_background_jobs(formatted_recipe):
    r = formatted_recipe
    start = time.monotonic()
    p, _ = run_fake(r, "--stage", "3", "--stop_stage", "11", CTC_FAIL="1", ASR_SLEEP="60")
    assert p.returncode != 0 and time.monotonic() - start < 30
    assert "Stage 3 failed" in p.stderr
    assert "Stopped the background job asr_training; its log: exp/asr_en/logs/ctc_train.log" in p.stderr
    pid = int((r / "calls.log.asr_pid").read_text())
    for _ in range(100):  # the job's processes are gone too (within seconds, however loaded the machine)
        if not Path(f"/proc/{pid}").exists():
            break
        time.sleep(0.1)
    assert not Path(f"/proc/{pid}").exists(), f"background job process {pid} still runs 10 s after"


def test_background_false_runs_everything_in_order(formatted_recipe):
    r = formatted_recipe
    p, calls = run_fake(r, "--stage", "3", "--stop_stage", "11", "--background", "false")
    assert p.returncode == 0, p.stderr
    verbs = [verb(cmd) for _, what, cmd in calls if what == "start"]
    assert verbs.index("ctc train asr") > verbs.index("vocoder synth") > verbs.index("vocoder fit") > \
        verbs.index("decode")


# --<stage>_args -> (the verb given them, the done marker that records them, its config's name)
STAGE_ARGS = {"ctc_args": ("ctc train", "exp/ctc/.done.stage3", "ctc_conf"),
              "units_args": ("units fit", "exp/units/.done.stage4", "units_conf"),
              "align_args": ("align", "dump/train_xx/.done.stage5.align", "align_conf"),
              "vocab_args": ("vocab", "exp/vocab/.done.stage6", "vocab_conf"),
              "pretrain_args": ("pretrain-text", "exp/lm/.done.stage7", "pretrain_conf"),
              "train_args": ("train", "exp/s2st_scheduled/.done.stage8", "train_conf"),
              "decode_args": ("decode", "exp/s2st_scheduled/decode_test_xx/.done.stage9", "decode_conf"),
              "vocoder_args": ("vocoder fit", "exp/vocoder/.done.stage10", "vocoder_conf"),
              "asr_args": ("ctc train asr", "exp/asr_en/.done.stage11", "asr_conf"),
              "score_args": ("score", None, "score_conf")}


def test_every_stage_passes_its_overrides_to_its_verb_and_records_them_in_its_marker(formatted_recipe):
    import yaml

    r = formatted_recipe
    (r / "conf" / "pretrain.yaml").write_text("{}\n")
    args = ["--stage", "3", "--stop_stage", "11", "--pretrain_conf", "conf/pretrain.yaml"]
    for opt in STAGE_ARGS:
        args += [f"--{opt}", f"a.{opt}=1 top=x"]
    p, calls = run_fake(r, *args)
    assert p.returncode == 0, p.stderr
    for opt, (name, marker, conf) in STAGE_ARGS.items():
        given = [cmd for _, what, cmd in calls if what == "start"
                 and (verb(cmd) == name or f"launch --ngpu 0 --nproc 1 -- s2s {name} " in cmd)]  # stages 7-8
        # the sharded stages (5, 9) are one --cmd call each: the override is on it, so every job gets it
        assert given and all(f"a.{opt}=1 top=x" in cmd for cmd in given), (opt, given)
        assert all("--cmd " in cmd for cmd in given if name in ("align", "decode")), (opt, given)
        if marker:
            record = yaml.safe_load((r / marker).read_text())
            # stage 8 also gets stage 7's LLM from s2st.sh (the config does not name it), recorded alike
            extra = {"llm": {"path": "exp/lm/model"}} if opt == "train_args" else {}
            assert record["configs"][conf] == {"a": {opt: 1}, "top": "x", **extra}, opt
    assert all("llm.path=exp/lm/model a.train_args=1" in cmd for _, what, cmd in calls if " s2s train " in cmd)
    # a changed override reruns a stage that derives its output (decoding) ...
    args[args.index("--decode_args") + 1] = "a.decode_args=2 top=x"
    p, calls = run_fake(r, *args)
    assert p.returncode == 0, p.stderr
    started = {verb(cmd) for _, what, cmd in calls if what == "start"}
    assert "decode" in started and not started & {"units fit", "align", "vocab", "ctc train"}
    # ... and stops one that trains a model, naming the changed key and how to force it
    args[args.index("--units_args") + 1] = "a.units_args=5 top=x"
    p, _ = run_fake(r, *args)
    assert p.returncode != 0
    assert "config units_conf.a.units_args: 1 -> 5" in p.stderr and "--force true" in p.stderr
    # a word that is no KEY=VALUE is refused before any stage, naming the option
    p, calls = run_fake(r, "--stage", "3", "--decode_args", "num_beams")
    assert p.returncode == 1 and "--decode_args: 'num_beams' is not a KEY=VALUE override" in p.stderr and not calls


def test_help_is_the_option_table_of_s2st_sh_and_nothing_documents_an_option_twice(tmp_path):
    recipe = make_recipe(tmp_path)
    p = sh(["./s2st.sh", "--help"], cwd=recipe)
    assert p.returncode == 0, p.stderr
    prose, _, rest = p.stdout.partition("\nOptions (")
    table_help, _, current = rest.partition("\nCurrent values:\n")
    source = (TEMPLATE / "s2st.sh").read_text()
    # the table: the first block of "name=default  # description" lines (and indented comment lines)
    table = re.search(r"^[a-z_]+=\S*\s+#.*?\n\n", source, re.S | re.M).group(0)
    options = re.findall(r"^([a-z_]+)=(\S*)\s+# (.*)$", table, re.M)
    assert len(options) >= 45 and {"stage", "ctc_import", "score_args", "python"} <= {o for o, _, _ in options}
    entries = re.findall(r"^  --([a-z_]+) +(.*)$", table_help, re.M)
    assert [name for name, _ in entries] == [o for o, _, _ in options]  # every option, in order, once
    for (name, default, desc), (_, shown) in zip(options, entries):
        assert shown.startswith(desc), name
        assert re.search(rf"\[{re.escape(default) if default else re.escape(chr(34) * 2)}\]$",
                         table_help.split(f"  --{name} ")[1].split("\n  --")[0].strip()), name
    assert [line.split()[0] for line in current.splitlines()] == [f"--{o}" for o, _, _ in options]
    # the prose names options but documents none: no "  --name ..." entry outside the table
    assert not re.search(r"^\s+--[a-z_]+ ", prose, re.M)
    for name, _, _ in options:  # and no other comment of the script describes an option again
        assert len(re.findall(rf"^{name}=", source, re.M)) == 1, name
