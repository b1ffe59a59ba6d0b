"""Every verb's parser: ESPnet-style underscore options with help text, common options after the verb."""
from __future__ import annotations

import argparse
import logging

import pytest

from s2s_plugin.bin.main import build_parser, leaf_parsers, main, underscored

LEAVES = list(leaf_parsers(build_parser()))


def _options(parser: argparse.ArgumentParser):
    return [a for a in parser._actions if not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction))]


def test_the_walk_reaches_nested_verbs():
    paths = {" ".join(p) for p, _ in LEAVES}
    assert {"train", "data validate", "data format", "ctc import", "units fit", "vocoder fit"} <= paths
    assert len(paths) >= 20


@pytest.mark.parametrize("path,parser", LEAVES, ids=[" ".join(p) or "s2s" for p, _ in LEAVES])
def test_every_option_has_help_and_underscore_spelling(path, parser):
    for action in _options(parser):
        assert action.help, f"s2s {' '.join(path)}: {action.option_strings or action.dest} has no help text"
        for opt in action.option_strings:
            assert "-" not in opt.lstrip("-"), f"s2s {' '.join(path)}: {opt} is spelled with a hyphen; use _"
    if path:
        names = {o for a in _options(parser) for o in a.option_strings}
        assert {"--log_level", "--debug"} <= names


def test_hyphenated_spellings_are_hidden_aliases():
    parser = build_parser()
    argv = ["--log-level", "DEBUG", "data", "validate", "d", "--no-audio", "--max-problems=3", "--", "--x-y"]
    assert underscored(argv, parser) == ["--log_level", "DEBUG", "data", "validate", "d", "--no_audio",
                                         "--max_problems=3", "--", "--x-y"]
    assert underscored(["--not-an-option"], parser) == ["--not-an-option"]
    help_text = next(p for path, p in LEAVES if path == ("data", "validate")).format_help()
    assert "--max_problems" in help_text and "--max-problems" not in help_text


def _capture_level(monkeypatch):
    seen = {}
    monkeypatch.setattr(logging, "basicConfig", lambda **kw: seen.update(kw))
    return seen


@pytest.mark.parametrize("argv,level", [
    (["plugins"], "INFO"),
    (["--log_level", "WARNING", "plugins"], "WARNING"),
    (["plugins", "--log_level", "DEBUG"], "DEBUG"),
    (["--log-level", "ERROR", "plugins"], "ERROR"),
    (["plugins", "--log-level=WARNING"], "WARNING"),
])
def test_log_level_before_or_after_the_verb(monkeypatch, capsys, argv, level):
    seen = _capture_level(monkeypatch)
    assert main(argv) == 0
    assert seen["level"] == level


def test_debug_after_the_verb_shows_the_traceback(tmp_path):
    missing = str(tmp_path / "nope")
    assert main(["data", "validate", missing]) == 2
    with pytest.raises(Exception):
        main(["data", "validate", missing, "--debug"])


RECIPE_CONF = {"align": "align.yaml", "corpus mini": "corpus.yaml", "ctc train": "ctc.yaml",
               "data format": "format.yaml", "decode": "decode.yaml", "pretrain-text": "pretrain_text.yaml",
               "score": "score.yaml", "train": "train_scheduled.yaml", "units fit": "units.yaml",
               "units import": "units.yaml",
               "vocab": "vocab.yaml", "vocoder fit": "vocoder.yaml"}


def _required_args(parser: argparse.ArgumentParser) -> list[str]:
    argv = []
    for a in _options(parser):
        if a.option_strings and a.required and a.option_strings[0] != "--config":
            argv += [a.option_strings[0], "x"]
        elif not a.option_strings and a.nargs not in ("*", "?", argparse.REMAINDER):
            argv.append("x")
    return argv


def test_every_verb_with_a_config_prints_it():
    # s2s marker's --config takes NAME=FILE pairs (configs hashed into a stage's key), not a config of its own
    with_config = {" ".join(p) for p, leaf in LEAVES if p[0] != "marker"
                   and "--config" in {o for a in _options(leaf) for o in a.option_strings}}
    printing = {" ".join(p) for p, leaf in LEAVES if leaf.get_default("_schema")}
    assert with_config == printing == set(RECIPE_CONF)


@pytest.mark.parametrize("verb", sorted(RECIPE_CONF))
def test_print_config_round_trips_the_recipe_config(verb, capsys):
    import importlib
    from pathlib import Path

    import yaml

    from s2s_plugin.config import from_dict, load_yaml, resolved_dict

    conf = Path(__file__).resolve().parents[2] / "egs" / "mini_s2st" / "s2st1" / "conf" / RECIPE_CONF[verb]
    leaf = next(p for path, p in LEAVES if " ".join(path) == verb)
    assert main([*verb.split(), *_required_args(leaf), "--config", str(conf), "--print_config"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    module, _, name = leaf.get_default("_schema").partition(":")
    schema = getattr(importlib.import_module(module), name)
    # the printed config is a complete config: it resolves to what the recipe's file resolves to
    assert printed == resolved_dict(from_dict(schema, load_yaml(conf)))
    assert resolved_dict(from_dict(schema, printed)) == printed
    assert set(load_yaml(conf)) <= set(printed)


def test_print_config_fills_plugin_defaults_and_applies_overrides(capsys):
    from pathlib import Path

    import yaml

    conf = Path(__file__).resolve().parents[2] / "egs" / "mini_s2st" / "s2st1" / "conf" / "train_scheduled.yaml"
    assert main(["train", "--config", str(conf), "--exp", "never_made", "optim.lr=1e-4", "--vocab", "v.yaml",
                 "--print_config"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["optim"]["lr"] == 1e-4 and printed["vocab"] == "v.yaml"
    # the step scheduler's constructor defaults the file does not set
    assert printed["scheduler"]["warmup_steps"] == 0 and printed["scheduler"]["hold_steps"] == 0
    assert not Path("never_made").exists()


def _leaves(cfg: dict, prefix: str = ""):
    """``(dotted key, value)`` of every leaf of a nested config."""
    for k, v in cfg.items():
        if isinstance(v, dict):
            yield from _leaves(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}", v


def _changed(value):
    """Another value of the same type (for an override that must show in the printed config)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value / 2 if value else 0.5
    return f"{value}_x"


@pytest.mark.parametrize("verb", sorted(RECIPE_CONF))
def test_every_config_verb_takes_trailing_dotted_overrides_the_same_way(verb, capsys):
    from pathlib import Path

    import yaml

    conf = Path(__file__).resolve().parents[2] / "egs" / "mini_s2st" / "s2st1" / "conf" / RECIPE_CONF[verb]
    leaf = next(p for path, p in LEAVES if " ".join(path) == verb)
    argv = [*verb.split(), *_required_args(leaf), "--config", str(conf), "--print_config"]
    assert main(argv) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    # a number of the config, at any depth (a string may be a choice among names)
    key, value = next((k, v) for k, v in _leaves(printed) if isinstance(v, (int, float)) and not isinstance(v, bool))
    want = _changed(value)
    # the override comes last, after whatever list option the verb has: the shared parser hands it back
    assert main([*argv, f"{key}={want!r}"]) == 0
    assert dict(_leaves(yaml.safe_load(capsys.readouterr().out)))[key] == want
    # a word that is no KEY=VALUE is refused with the same message by every verb
    assert main([*argv, "not_an_override"]) == 2
    assert "override 'not_an_override' must look like key.subkey=value" in capsys.readouterr().err


def test_overrides_taken_by_a_list_option_are_handed_back(tmp_path):
    import argparse

    from s2s_plugin.bin._args import take_overrides

    existing = tmp_path / "a=b"  # a dir whose name holds '=' stays a dir
    existing.mkdir()
    argv = ["units", "fit", "--dirs", "dump/x", "fit.share=0.5", "--cmd", "run.pl", "tokenizer.layer=3"]
    args = argparse.Namespace(dirs=["dump/x", str(existing), "fit.share=0.5"], lang=["fr", "k=v"],
                              overrides=["tokenizer.layer=3"], _argv=list(argv))
    assert take_overrides(args) == ["tokenizer.layer=3", "fit.share=0.5", "k=v"]
    assert args.dirs == ["dump/x", str(existing)] and args.lang == ["fr"]
    assert args._argv == argv  # the command line --cmd repeats per job keeps its overrides
    assert args.overrides == ["tokenizer.layer=3", "fit.share=0.5", "k=v"]
