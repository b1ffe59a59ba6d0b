"""Helpers of the training tests: tiny dump dirs (units, texts, CTMs) and the tiny config.

The dump dirs look like stages 2-5's output for a synthetic fr -> en corpus:
every word gets a few frames of random units at 50 units per second, with
short "silences" between words, and the CTMs give those frames' times.
"""
from __future__ import annotations

import random
from pathlib import Path

import yaml

FR = {"le": "the", "chat": "cat", "chien": "dog", "noir": "black", "blanc": "white", "mange": "eats",
      "dort": "sleeps", "petit": "small", "grand": "big", "oiseau": "bird"}
FRAME_RATE = 50.0
N_UNITS = 20
RECIPE_CONF = Path(__file__).resolve().parents[2] / "egs" / "mini_s2st" / "s2st1" / "conf"


def sentences(n: int, seed: int) -> list[tuple[list[str], list[str]]]:
    rng = random.Random(seed)
    nouns, adjs, verbs = ["chat", "chien", "oiseau"], ["noir", "blanc", "petit", "grand"], ["mange", "dort"]
    out = []
    for _ in range(n):
        noun, verb = rng.choice(nouns), rng.choice(verbs)
        fr = ["le", noun] + ([rng.choice(adjs)] if rng.random() < 0.6 else []) + [verb]
        en = ["the"] + ([FR[fr[2]]] if len(fr) == 4 else []) + [FR[noun], FR[verb]]
        out.append((fr, en))
    return out


def _speak(words: list[str], rng: random.Random) -> tuple[list[int], list[tuple[float, float]]]:
    units, times = [], []
    pos = rng.randint(1, 3)
    units += [0] * pos
    for _ in words:
        n = rng.randint(3, 7)
        times.append((pos / FRAME_RATE, n / FRAME_RATE))
        units += [rng.randrange(1, N_UNITS) for _ in range(n)]
        gap = rng.randint(0, 2)
        units += [0] * gap
        pos += n + gap
    units += [0] * 2
    return units, times


def make_dump(d: Path, n: int, seed: int, src: str = "fr", tgt: str = "en", fit_id: str = "fit0") -> Path:
    """Write a dump dir with ``n`` utterances like stages 2-5 do."""
    d.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    files: dict[str, list[str]] = {k: [] for k in ("text.s", "text.t", "units.s", "units.t", "ctm.s", "ctm.t")}
    for i, (sw, tw) in enumerate(sentences(n, seed)):
        utt = f"spk{i % 3}-{src}-{seed}-{i:04d}"
        for side, words in (("s", sw), ("t", tw)):
            units, times = _speak(words, rng)
            files[f"text.{side}"].append(f"{utt} {' '.join(words)}")
            files[f"units.{side}"].append(f"{utt} {' '.join(map(str, units))}")
            files[f"ctm.{side}"] += [f"{utt} 1 {s:.3f} {dur:.3f} {w}" for w, (s, dur) in zip(words, times)]
    for side, lang in (("s", src), ("t", tgt)):
        (d / f"text.{lang}").write_text("\n".join(files[f"text.{side}"]) + "\n")
        (d / f"units.{lang}").write_text("\n".join(files[f"units.{side}"]) + "\n")
        (d / f"align.{lang}.ctm").write_text("\n".join(files[f"ctm.{side}"]) + "\n")
        (d / f"units.{lang}.info").write_text(yaml.safe_dump({"frame_rate": FRAME_RATE, "n_clusters": N_UNITS,
                                                              "dedup": False, "fit_id": fit_id}))
    (d / "utt2spk").write_text("".join(f"{line.split()[0]} {line.split('-')[0]}\n" for line in files["text.s"]))
    return d


def tiny_overrides(dumps: dict[str, Path], vocab_path: Path, **extra: object) -> list[str]:
    """Overrides that point conf/train_tiny.yaml at the fixture data."""
    base = {"vocab": str(vocab_path), "data.train": f"[{dumps['train']}]", "data.valid": f"[{dumps['dev']}]"}
    base.update({k: str(v) for k, v in extra.items()})
    return [f"{k}={v}" for k, v in base.items()]


def load_tiny(dumps: dict[str, Path], vocab_path: Path, **extra: object):
    """conf/train_tiny.yaml on the fixture data, with extra dotted overrides (``data__max_tokens=...``)."""
    from s2s_plugin.config import load_config
    from s2s_plugin.train.schema import TrainConfig

    extra = {k.replace("__", "."): v for k, v in extra.items()}
    return load_config(TrainConfig, RECIPE_CONF / "train_tiny.yaml", tiny_overrides(dumps, vocab_path, **extra))
