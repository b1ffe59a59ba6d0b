"""utils/parse_options.sh: --name value options become the calling script's variables."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = f"""#!/usr/bin/env bash
set -euo pipefail
stage=1
foo_bar=default
use_gpu=false
langs="fr es"
help_message="Usage: $0 [options] <dir>
  --stage N        first stage
  --foo-bar VALUE  a value
  --use_gpu BOOL   true or false
  --langs LIST     languages"
. {ROOT}/utils/parse_options.sh
echo "stage=$stage"
echo "foo_bar=$foo_bar"
echo "use_gpu=$use_gpu"
echo "langs=$langs"
echo "nargs=$#"
for a in "$@"; do echo "arg=$a"; done
echo "leaked=$(compgen -v _po_ || true)$(declare -F | grep -c _po_ || true)"
"""


@pytest.fixture
def script(tmp_path):
    path = tmp_path / "script.sh"
    path.write_text(SCRIPT)
    path.chmod(0o755)
    return path


def run(script, *args, cwd=None):
    return subprocess.run([str(script), *args], capture_output=True, text=True, cwd=cwd, timeout=60)


def values(proc) -> dict[str, str]:
    out = {}
    for line in proc.stdout.splitlines():
        key, _, value = line.partition("=")
        if key != "arg":
            out[key] = value
    return out


def args_of(proc) -> list[str]:
    return [line[4:] for line in proc.stdout.splitlines() if line.startswith("arg=")]


def test_defaults_untouched_without_options(script):
    p = run(script)
    assert p.returncode == 0, p.stderr
    assert values(p) == {"stage": "1", "foo_bar": "default", "use_gpu": "false", "langs": "fr es",
                         "nargs": "0", "leaked": "0"}


@pytest.mark.parametrize("opts", [["--foo_bar", "x y"], ["--foo-bar", "x y"], ["--foo_bar=x y"]])
def test_option_spellings_set_the_variable(script, opts):
    p = run(script, *opts, "--stage", "7")
    assert p.returncode == 0, p.stderr
    assert values(p)["foo_bar"] == "x y"
    assert values(p)["stage"] == "7"


def test_positional_arguments_are_left_in_order(script):
    p = run(script, "--stage", "3", "data/train", "--not-an-option", "last")
    assert p.returncode == 0, p.stderr
    assert values(p)["stage"] == "3"
    assert args_of(p) == ["data/train", "--not-an-option", "last"]


def test_double_dash_ends_the_options(script):
    p = run(script, "--stage", "2", "--", "--stage", "9")
    assert p.returncode == 0, p.stderr
    assert values(p)["stage"] == "2"
    assert args_of(p) == ["--stage", "9"]


def test_empty_value_is_allowed(script):
    p = run(script, "--langs", "")
    assert p.returncode == 0, p.stderr
    assert values(p)["langs"] == ""


def test_unknown_option_is_an_error_naming_it(script):
    p = run(script, "--stage", "2", "--no_such_thing", "1")
    assert p.returncode == 1
    assert "--no_such_thing" in p.stderr and "no variable 'no_such_thing'" in p.stderr
    assert "stage=" not in p.stdout  # the script stopped


def test_missing_value_is_an_error(script):
    p = run(script, "--stage")
    assert p.returncode == 1
    assert "--stage needs a value" in p.stderr


@pytest.mark.parametrize("value,ok", [("true", True), ("false", True), ("yes", False), ("1", False)])
def test_boolean_variables_take_only_true_or_false(script, value, ok):
    p = run(script, "--use_gpu", value)
    assert (p.returncode == 0) is ok
    if ok:
        assert values(p)["use_gpu"] == value
    else:
        assert f"--use_gpu takes true or false, not '{value}'" in p.stderr


def test_help_prints_message_and_current_values(script):
    p = run(script, "--stage", "5", "--langs", "pt", "--help", "--foo_bar", "later")
    assert p.returncode == 0
    assert "Usage:" in p.stdout and "--foo-bar VALUE  a value" in p.stdout
    current = p.stdout.split("Current values:")[1].split("\n")
    assert "  --stage 5" in current
    assert "  --foo_bar default" in current  # options after --help are not applied
    assert "  --use_gpu false" in current
    assert "  --langs pt" in current
    assert "stage=" not in p.stdout  # exits after the help


def test_short_help(script):
    p = run(script, "-h")
    assert p.returncode == 0
    assert '  --langs "fr es"' in p.stdout


def test_config_file_is_read_first_and_command_line_wins(script, tmp_path):
    conf = tmp_path / "my.conf"
    conf.write_text("# a comment\nstage=4\nfoo_bar=from_conf\n")
    for order in (["--stage", "9", "--config", str(conf)], ["--config", str(conf), "--stage", "9"]):
        p = run(script, *order)
        assert p.returncode == 0, p.stderr
        assert values(p)["stage"] == "9"
        assert values(p)["foo_bar"] == "from_conf"


def test_missing_config_file_is_an_error(script, tmp_path):
    p = run(script, "--config", str(tmp_path / "nope.conf"))
    assert p.returncode == 1
    assert "nope.conf: no such file" in p.stderr


TABLE_SCRIPT = f"""#!/usr/bin/env bash
set -euo pipefail
x=$(echo not an option)
stage=1               # first stage
langs="fr es"         # languages, e.g. "fr es"
use_gpu=false         # true: on the GPU
                      #   (a second line of use_gpu's description)
bare=1

after_the_table=2     # not an option of the table: a blank line ended it
help_message="Usage: $0 [options]
What the script does."
. {ROOT}/utils/parse_options.sh
echo "stage=$stage"
"""


def test_help_lists_the_option_table_of_the_script_with_defaults(tmp_path):
    path = tmp_path / "table.sh"
    path.write_text(TABLE_SCRIPT)
    path.chmod(0o755)
    p = run(path, "--stage", "4", "--help")
    assert p.returncode == 0, p.stderr
    prose, _, rest = p.stdout.partition("\nOptions (")
    assert prose.strip().endswith("What the script does.")
    table, _, current = rest.partition("\nCurrent values:\n")
    lines = table.splitlines()[1:]
    assert lines == ["  --stage    first stage [1]",  # the default, not the current 4
                     '  --langs    languages, e.g. "fr es" ["fr es"]',
                     "  --use_gpu  true: on the GPU",
                     "               (a second line of use_gpu's description) [false]",
                     "  --bare     (no description) [1]"]
    assert current.splitlines()[:4] == ["  --stage 4", '  --langs "fr es"', "  --use_gpu false", "  --bare 1"]
    assert "after_the_table" not in p.stdout and "--x" not in p.stdout


def test_a_script_without_a_table_prints_its_help_message_only(script):
    p = run(script, "--help")
    assert p.returncode == 0 and "\nOptions (" not in p.stdout and "Current values:" in p.stdout
