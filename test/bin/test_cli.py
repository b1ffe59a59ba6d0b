"""The s2s command: verb discovery, plugins table/JSON, schedule print/plot, error exit codes."""
from __future__ import annotations

import json

import pytest

from s2s_plugin.bin.main import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_help_lists_verbs(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "plugins" in out and "schedule" in out


def test_plugins_table(capsys, registry):
    code, out, _ = run(capsys, "plugins")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["kind", "name", "provider", "version", "class"]
    rows = [line.split() for line in lines[2:]]
    scheds = {r[1]: r for r in rows if r[0] == "interleave_scheduler"}
    assert set(scheds) >= {"constant", "linear", "step", "cosine"}
    assert scheds["step"][2:4] == ["s2s_plugin", "0.1.0"]
    quality = {r[1]: r[4] for r in rows if r[0] == "quality_scorer"}
    assert quality == {"mcd_dtw": "s2s_plugin.quality.mcd.MelCepstralDistortion",
                       "utmos22_strong": "s2s_plugin.quality.utmos.Utmos22Strong",
                       "wada_snr": "s2s_plugin.quality.wada.WadaSNR"}


def test_plugins_json_and_kind_filter(capsys, registry):
    code, out, _ = run(capsys, "plugins", "--json", "--kind", "interleave_scheduler")
    data = json.loads(out)
    assert code == 0 and {d["kind"] for d in data} == {"interleave_scheduler"}
    assert {d["name"] for d in data} >= {"constant", "linear", "step", "cosine"}
    code, _, err = run(capsys, "plugins", "--kind", "nope")
    assert code == 2 and "unknown plugin kind 'nope'" in err


def test_schedule_prints_paper_values(tmp_path, capsys, registry):
    conf = tmp_path / "sched.yaml"
    conf.write_text("scheduler:\n  name: step\n  p_init: 0.9\n  decrement: 0.1\n  every: 300\n")
    code, out, _ = run(capsys, "schedule", str(conf), "--steps", "0", "299", "300", "2700")
    assert code == 0
    assert [line.split()[-1] for line in out.splitlines()] == ["0.9000", "0.9000", "0.8000", "0.0000"]
    code, out, _ = run(capsys, "schedule", str(conf), "scheduler.every=100", "--steps", "100")
    assert out.split()[-1] == "0.8000"


def test_schedule_plot_writes_png(tmp_path, capsys, registry):
    conf = tmp_path / "sched.yaml"
    conf.write_text("scheduler: {name: cosine, decay_steps: 500}\ntotal_steps: 800\n")
    png = tmp_path / "p.png"
    code, out, _ = run(capsys, "schedule", str(conf), "--plot", str(png))
    assert code == 0 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 5000  # a real figure, not an empty canvas


def test_schedule_errors(tmp_path, capsys, registry):
    conf = tmp_path / "bad.yaml"
    conf.write_text("scheduler: {name: stepp}\n")
    code, _, err = run(capsys, "schedule", str(conf), "--steps", "0")
    assert code == 2 and "did you mean 'step'" in err and err.startswith("s2s schedule: error:")
    conf.write_text("optim: {lr: 1}\n")
    code, _, err = run(capsys, "schedule", str(conf))
    assert code == 2 and "no 'scheduler' block" in err
