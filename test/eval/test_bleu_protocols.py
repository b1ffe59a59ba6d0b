"""ASR-BLEU protocols (s2s, espnet, fairseq) against numbers computed here by following each peer's steps.

The reference numbers are computed without s2s_plugin: ESPnet's steps with
sacremoses (its Moses detokeniser), ``perl`` running the punctuation rule of
ESPnet's ``utils/remove_punctuation.pl`` and sacrebleu's command line with
``-lc`` (as ``evaluate_asr_bleu.sh`` calls it); fairseq's with
``sacrebleu.corpus_bleu`` on lower-cased transcripts and stripped references
(as ``compute_asr_bleu.py`` does).
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
import sacrebleu
from sacremoses import MosesDetokenizer

from s2s_plugin.bin.main import main
from s2s_plugin.errors import ConfigError, DataError
from s2s_plugin.eval.bleu_protocols import PROTOCOLS, espnet_remove_punctuation, make_protocol
from s2s_plugin.eval.normalize import TextNormalizer
from s2s_plugin.eval.report import load_runs

#: (ASR transcript, reference translation): what a scoring ASR writes next to cased, punctuated references
PAIRS = [
    ("THE BLACK CAT EATS", "The black cat eats."),
    ("two red dogs", "Two red dogs!"),
    ("a white house and co", 'A "white" house & co.'),
    ("don't stop it's well known", "Don’t stop—it's well-known!"),
    ("he said hello world", "He said: «Hello, world»…"),
    ("i do not know", "I don't know (yet)."),
    ("the cost is 5 dollars", "The cost is $5 – or 5 € ?"),
    ("  we   met at ten  ", "We met at 10:30, in the café."),
]
HYPS = [h for h, _ in PAIRS]
REFS = [r for _, r in PAIRS]

# ESPnet's remove_punctuation.pl rule, written here as a perl program of our own: protect the ASCII
# apostrophe and the <space> token, delete [[:punct:]] (Unicode semantics: -CSD decodes UTF-8 input),
# collapse and trim whitespace.
PERL_RM_PUNCT = (r"$_ = qq{ $_ }; s/<space>/\x{E000}/g; s/'/\x{E001}/g; s/[[:punct:]]//g; "
                 r"s/\x{E001}/'/g; s/\x{E000}/<space>/g; s/\s+/ /g; s/^\s+//; s/\s+$//; $_ .= qq{\n};")


def espnet_by_hand(texts: list[str], lang: str = "en") -> list[str]:
    """tokenize_text --token_type word, Moses detokenizer -l LANG, remove_punctuation.pl (run by perl)."""
    words = [" ".join(t.split()) for t in texts]
    md = MosesDetokenizer(lang=lang)
    return perl_remove_punctuation([md.detokenize(w.split()) for w in words])


def perl_remove_punctuation(lines: list[str]) -> list[str]:
    out = subprocess.run(["perl", "-CSD", "-pe", PERL_RM_PUNCT], input="\n".join(lines) + "\n",
                         capture_output=True, text=True, check=True).stdout.split("\n")[:-1]
    assert len(out) == len(lines)
    return out


def sacrebleu_cli_lc(hyps: list[str], refs: list[str], tmp_path) -> float:
    """``sacrebleu -lc REF -i HYP -m bleu`` as evaluate_asr_bleu.sh runs it, score only."""
    ref, hyp = tmp_path / "ref.trn.detok.lc.rm", tmp_path / "hyp.trn.detok.lc.rm"
    ref.write_text("".join(r + "\n" for r in refs), encoding="utf-8")
    hyp.write_text("".join(h + "\n" for h in hyps), encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "sacrebleu", "-lc", str(ref), "-i", str(hyp), "-m", "bleu",
                          "-b", "-w", "4"], capture_output=True, text=True, check=True).stdout
    return float(out.strip())


def test_espnet_protocol_matches_espnets_steps(tmp_path):
    p = make_protocol("espnet", lang="en")
    want_h, want_r = espnet_by_hand(HYPS), espnet_by_hand(REFS)
    assert p.prepare_hyps(HYPS) == want_h and p.prepare_refs(REFS) == want_r
    # the rule as ESPnet's script applies it: deleted, not spaced; every ASCII apostrophe kept
    assert want_r[3] == "Dont stopit's wellknown" and want_r[2] == "A white house co"
    expected = sacrebleu_cli_lc(want_h, want_r, tmp_path)
    got = p.score(HYPS, REFS)
    assert got.score == pytest.approx(expected, abs=1e-3)
    assert got.signature.startswith("nrefs:1|case:lc|eff:no|tok:13a|smooth:exp|version:")
    assert p.signature.startswith("espnet:tok-word+moses-detok(en)+rm-punct | nrefs:1|case:lc|")


def test_fairseq_protocol_matches_compute_asr_bleu():
    p = make_protocol("fairseq")
    expected = sacrebleu.corpus_bleu([h.strip().lower() for h in HYPS], [[r.strip() for r in REFS]])
    got = p.score(HYPS, REFS)
    assert got.score == pytest.approx(expected.score, abs=1e-9)
    assert got.signature.startswith("nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:")
    assert p.prepare_refs(REFS) == [r.strip() for r in REFS]  # references are used as they are


def test_s2s_protocol_is_our_normalisation_and_unchanged():
    norm = TextNormalizer()
    expected = sacrebleu.corpus_bleu([norm(h) for h in HYPS], [[norm(r) for r in REFS]], lowercase=True)
    got = make_protocol("s2s").score(HYPS, REFS)
    assert got.score == pytest.approx(expected.score, abs=1e-9)
    assert got.signature.startswith("nrefs:1|case:lc|eff:no|tok:13a|smooth:exp|version:")


def test_the_protocols_give_different_numbers_on_the_same_pairs():
    s2s, espnet, fairseq = (make_protocol(n).score(HYPS, REFS).score for n in PROTOCOLS)
    # cased, punctuated references: fairseq counts every difference, ESPnet glues words, ours forgives both
    assert s2s > espnet > fairseq
    assert s2s - fairseq > 20


def test_remove_punctuation_details():
    assert espnet_remove_punctuation("  a <space> b ") == "a <space> b"
    assert espnet_remove_punctuation("l'homme, l’homme") == "l'homme lhomme"
    assert espnet_remove_punctuation("the apostrophe mark") == "the ' mark"  # the script's placeholder
    assert espnet_remove_punctuation("x + y = 3 ^ 2 | z ~ w") == "x y 3 2 z w"
    assert espnet_remove_punctuation("5 € £ °") == "5 € £ °"  # Unicode symbols are not [[:punct:]]
    tricky = ["x + y = 3 ^ 2 | z ~ w", "5 € £ °", "l'homme, l’homme", "«a» ¿b? ¡c! d…e — f – g", "a_b @c #d"]
    assert [espnet_remove_punctuation(t) for t in tricky] == perl_remove_punctuation(tricky)
    assert make_protocol("espnet").prepare_hyps(["", "   "]) == ["", ""]


def test_unknown_protocol_is_named():
    with pytest.raises(ConfigError, match="asr_bleu_protocol must be one of s2s, espnet, fairseq"):
        make_protocol("sclite")


def _score(corpus, exp, *extra):
    return main(["score", "--config", str(corpus.score_yaml()), "--exp", str(exp), "--ref_dump", str(corpus.dump),
                 "--sets", "test_fr", "test_es", *extra])


def test_score_under_a_protocol_names_it_everywhere(eval_registry, corpus, capsys, tmp_path):
    fr, es = corpus.sets
    exp = corpus.make_exp("espnet_seed1")
    assert _score(corpus, exp, "asr_bleu_protocol=espnet", f"vocoder_exp={corpus.vocoder_exp}") == 0
    printed = capsys.readouterr().out
    scores = json.loads((exp / "scores.json").read_text())
    ids = sorted(fr.ref_tgt)
    hyps, refs = [fr.asr_out[u] for u in ids], [fr.ref_tgt[u] for u in ids]
    expected = sacrebleu_cli_lc(espnet_by_hand(hyps), espnet_by_hand(refs), tmp_path)
    assert scores["sets"]["test_fr"]["asr_bleu"] == pytest.approx(expected, abs=0.005)
    voc = [fr.asr_voc[u] for u in ids]
    assert scores["sets"]["test_fr"]["topline_ref_units"] == pytest.approx(
        sacrebleu_cli_lc(espnet_by_hand(voc), espnet_by_hand(refs), tmp_path), abs=0.005)
    # BLEU of T_tgt keeps our normalisation whatever the protocol
    norm = TextNormalizer()
    want_text = sacrebleu.corpus_bleu([norm(fr.hyp_tgt[u]) for u in ids], [[norm(r) for r in refs]]).score
    assert scores["sets"]["test_fr"]["bleu_text"] == pytest.approx(want_text, abs=0.005)
    proto = scores["asr_bleu_protocol"]
    assert proto["name"] == "espnet" and "evaluate_asr_bleu.sh" in proto["follows"]
    assert proto["bleu_signature"].startswith("nrefs:1|case:lc|")
    by = scores["asr_bleu_by_protocol"]
    assert set(by) == set(PROTOCOLS) and by["espnet"]["sets"]["test_fr"] == scores["sets"]["test_fr"]["asr_bleu"]
    all_h = hyps + [es.asr_out[u] for u in sorted(es.ref_tgt)]
    all_r = refs + [es.ref_tgt[u] for u in sorted(es.ref_tgt)]
    fs = sacrebleu.corpus_bleu([h.strip().lower() for h in all_h], [[r.strip() for r in all_r]]).score
    assert by["fairseq"]["overall"] == pytest.approx(fs, abs=0.005)
    assert by["fairseq"]["signature"].startswith("fairseq:") and "case:mixed" in by["fairseq"]["signature"]

    results = (exp / "RESULTS.md").read_text()
    header = next(line for line in results.splitlines() if line.startswith("| set | src | utts |"))
    assert "ASR-BLEU [espnet]" in header and "ASR-BLEU ref speech [espnet]" in header
    assert "BLEU (T_tgt) |" in header and "[espnet] |" not in header.split("BLEU (T_tgt)")[1].split("|")[0]
    assert "ASR-BLEU protocol **espnet**" in results and "evaluate_asr_bleu.sh" in results
    assert "## ASR-BLEU under each protocol" in results
    row = next(line for line in results.splitlines() if line.startswith("| fairseq |"))
    assert f"{by['fairseq']['sets']['test_fr']:.2f}" in row and "case:mixed" in row
    assert "ASR-BLEU protocol: espnet:tok-word+moses-detok(en)+rm-punct" in printed


def test_compare_names_the_protocol_and_refuses_mixed_protocols(eval_registry, corpus, capsys):
    a, b = corpus.make_exp("sys_seed1"), corpus.make_exp("sys_seed2")
    assert _score(corpus, a, "asr_bleu_protocol=fairseq") == 0
    assert _score(corpus, b, "asr_bleu_protocol=fairseq") == 0
    out = corpus.root / "compare" / "table.md"
    capsys.readouterr()
    assert main(["compare", "--exps", str(a), str(b), "--out", str(out), "--no_plot"]) == 0
    table = out.read_text()
    assert "## ASR-BLEU [fairseq]" in table and "ASR-BLEU protocol **fairseq**" in table
    assert "compute_asr_bleu.py" in table and "case:mixed" in table
    assert _score(corpus, b) == 0  # rescored with ours
    with pytest.raises(DataError, match="scored differently \\(asr_bleu_protocol"):
        load_runs([a, b])
    # a scores.json written before protocols existed counts as ours
    old = json.loads((b / "scores.json").read_text())
    for key in ("asr_bleu_protocol", "asr_bleu_by_protocol"):
        old.pop(key)
    (a / "scores.json").write_text(json.dumps(old))
    assert len(load_runs([a, b])) == 2
