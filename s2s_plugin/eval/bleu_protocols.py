"""ASR-BLEU protocols: ours (``s2s``) and the text processing of ESPnet's and fairseq's ASR-BLEU scripts.

    s2s score --config conf/score.yaml --exp exp/s2st_scheduled --sets test_fr asr_bleu_protocol=espnet

    from s2s_plugin.eval.bleu_protocols import make_protocol

    p = make_protocol("espnet", lang="en")
    p.prepare_hyps(["Hello , WORLD !"])       # ['Hello WORLD'] (what sacrebleu is given)
    p.score(asr_transcripts, references)      # BleuScore; .signature is sacrebleu's
    p.signature                               # 'espnet:tok-word+moses-detok(en)+rm-punct | nrefs:1|case:lc|...'

The same ASR transcripts give very different BLEU under each peer's text
processing (issue 18 measured 82.1, 56.3 and 17.1 on one set of pairs), so a
number only compares with a number scored the same way. ``s2s score`` scores
ASR-BLEU (and its two toplines) with the configured protocol and writes its
name, the peer file it follows and its sacrebleu signature beside every
number; BLEU of the text translation and all WERs always use our
normalisation. The steps, from the peers' sources (read, not copied):

``s2s`` (ours, the default): :class:`~s2s_plugin.eval.normalize.TextNormalizer`
on hypotheses and references alike (NFKC, lower case, punctuation -> space
with apostrophes inside words kept, whitespace collapsed), then sacrebleu
``BLEU(lowercase=True, tokenize="13a")``: ``nrefs:1|case:lc|eff:no|tok:13a|smooth:exp``.

``espnet``: ESPnet's ``egs2/TEMPLATE/asr1/scripts/utils/evaluate_asr_bleu.sh``
stage 3, as ``egs2/TEMPLATE/s2st1/s2st.sh`` stage 9 calls it (its defaults
``score_cleaner=none``, ``score_nlsyms_text=none``), hypotheses and references
alike:

1. ``espnet2/bin/tokenize_text.py --token_type word``: split on whitespace,
   join with single spaces (no cleaner, no non-linguistic symbols);
2. ``detokenizer.perl -l <tgt_lang> -q`` (Moses), here sacremoses'
   ``MosesDetokenizer(lang).detokenize``;
3. ESPnet's ``utils/remove_punctuation.pl``: the ASCII apostrophe and the
   ``<space>`` token are protected, every other character of Perl's
   ``[[:punct:]]`` on a Unicode string (``string.punctuation`` plus every
   character of a Unicode ``P*`` category, typographic apostrophes included)
   is deleted, not replaced by a space (``well-known`` -> ``wellknown``), then
   whitespace is collapsed and trimmed. The script protects the apostrophe by
   writing the word ``apostrophe`` in its place and ``<space>`` as
   ``spacemark``, so those two words in a transcript come back as ``'`` and
   ``<space>``; we do the same;
4. ``sacrebleu -lc``: ``BLEU(lowercase=True)``, default 13a tokeniser and
   exponential smoothing: ``nrefs:1|case:lc|eff:no|tok:13a|smooth:exp``.

The script pastes an utterance id after each line and strips it with a regex
that leaves a tab at the end of the line, which the Moses detokeniser then
keeps on the last token; that changes only how a final punctuation token
attaches, and step 3 deletes it anyway, so it is left out.

``fairseq``: fairseq's ``examples/speech_to_speech/asr_bleu/compute_asr_bleu.py``
(``run_asr_bleu``, with ``utils.py``'s ``ASRGenerator.transcribe_audiofile``):

1. hypotheses: the ASR transcript, ``strip()`` and ``lower()``;
2. references: each line ``strip()`` ped and nothing else (the script expects
   references that its user has already normalised; ``text.<tgt>`` is used as
   it is, so its case and punctuation count);
3. ``sacrebleu.corpus_bleu(hyps, [refs])`` with sacrebleu's defaults: case
   sensitive, 13a, exponential smoothing: ``nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp``.

The ASR model each peer uses (ESPnet's model-zoo ASR, fairseq's wav2vec 2.0
CTC models) is a separate choice: the ``asr`` block of ``conf/score.yaml``.
"""
from __future__ import annotations

import functools
import string
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from s2s_plugin.errors import ConfigError
from s2s_plugin.eval.metrics import BleuScore, bleu_signature, corpus_bleu, utterance_bleu_stats
from s2s_plugin.eval.normalize import TextNormalizer

#: the protocol names, ours first (the default)
PROTOCOLS = ("s2s", "espnet", "fairseq")

#: protocol -> the peer source file(s) it follows
FOLLOWS = {
    "s2s": "s2s_plugin/eval/normalize.py (ours)",
    "espnet": "espnet: egs2/TEMPLATE/asr1/scripts/utils/evaluate_asr_bleu.sh (stage 3), "
              "utils/remove_punctuation.pl, espnet2/bin/tokenize_text.py",
    "fairseq": "fairseq: examples/speech_to_speech/asr_bleu/compute_asr_bleu.py (run_asr_bleu), "
               "examples/speech_to_speech/asr_bleu/utils.py (ASRGenerator.transcribe_audiofile)",
}

#: Perl's [[:punct:]] on a Unicode string: ASCII punctuation and symbols, and every P* character above ASCII
_ASCII_PUNCT = frozenset(string.punctuation)


def _perl_punct(ch: str) -> bool:
    return ch in _ASCII_PUNCT or (ord(ch) > 127 and unicodedata.category(ch).startswith("P"))


def espnet_remove_punctuation(text: str) -> str:
    """ESPnet's ``utils/remove_punctuation.pl`` on one line (see the module docstring, step 3)."""
    text = f" {text} ".replace("<space>", "spacemark").replace("'", "apostrophe")
    text = "".join(c for c in text if not _perl_punct(c))
    text = text.replace("apostrophe", "'").replace("spacemark", "<space>")
    return " ".join(text.split())


@functools.lru_cache(maxsize=8)
def _moses_detokenizer(lang: str) -> Any:
    try:
        from sacremoses import MosesDetokenizer
    except ImportError as e:  # declared in setup.py and tools/requirements.txt; a hand-made venv may lack it
        raise ConfigError("asr_bleu_protocol=espnet needs sacremoses (Moses' detokenizer, as ESPnet's "
                          "evaluate_asr_bleu.sh runs detokenizer.perl): pip install sacremoses==0.2.0, or rerun "
                          "tools/install.sh") from e
    return MosesDetokenizer(lang=lang)


@dataclass(frozen=True)
class BleuProtocol:
    """How ASR transcripts and references become the strings sacrebleu scores, and sacrebleu's options.

    Build one with :func:`make_protocol`. Example::

        p = make_protocol("fairseq")
        p.score(["THE CAT sat"], ["The cat sat."]).score

    Attributes:
        name: ``s2s``, ``espnet`` or ``fairseq``.
        lang: the target language (the Moses detokeniser's rules of ``espnet``).
        normalizer: our normalisation (used by ``s2s`` only).
    """

    name: str
    lang: str = "en"
    normalizer: TextNormalizer = field(default_factory=TextNormalizer)

    def __post_init__(self) -> None:
        if self.name not in PROTOCOLS:
            raise ConfigError(f"asr_bleu_protocol must be one of {', '.join(PROTOCOLS)}, got {self.name!r}")

    @property
    def lowercase(self) -> bool:
        """sacrebleu's ``lowercase`` (``-lc``): on for ``s2s`` and ``espnet``, off for ``fairseq``."""
        return self.name != "fairseq"

    @property
    def steps(self) -> str:
        """A short name of the text processing, e.g. ``tok-word+moses-detok(en)+rm-punct``."""
        if self.name == "s2s":
            return self.normalizer.signature
        if self.name == "espnet":
            return f"tok-word+moses-detok({self.lang})+rm-punct"
        return "hyp:strip+lc,ref:strip"

    @property
    def bleu_signature(self) -> str:
        """sacrebleu's signature of this protocol's BLEU, e.g. ``nrefs:1|case:mixed|eff:no|tok:13a|...``."""
        return bleu_signature(lowercase=self.lowercase)

    @property
    def signature(self) -> str:
        """``<name>:<steps> | <sacrebleu signature>``: says in one line how a number was computed."""
        return f"{self.name}:{self.steps} | {self.bleu_signature}"

    def describe(self) -> dict[str, str]:
        """What ``scores.json`` stores under ``asr_bleu_protocol``."""
        return {"name": self.name, "follows": FOLLOWS[self.name], "steps": self.steps,
                "bleu_signature": self.bleu_signature, "signature": self.signature}

    def prepare_hyps(self, texts: Sequence[str]) -> list[str]:
        """ASR transcripts as this protocol hands them to sacrebleu."""
        if self.name == "s2s":
            return self.normalizer.many(list(texts))
        if self.name == "espnet":
            return [self._espnet(t) for t in texts]
        return [t.strip().lower() for t in texts]

    def prepare_refs(self, texts: Sequence[str]) -> list[str]:
        """References as this protocol hands them to sacrebleu."""
        if self.name == "fairseq":
            return [t.strip() for t in texts]
        return self.prepare_hyps(texts)

    def _espnet(self, text: str) -> str:
        tokens = text.split()
        detok = _moses_detokenizer(self.lang).detokenize(tokens) if tokens else ""
        return espnet_remove_punctuation(detok)

    def score_prepared(self, hyps: Sequence[str], refs: Sequence[str]) -> BleuScore:
        """Corpus BLEU of already prepared strings (:meth:`prepare_hyps`, :meth:`prepare_refs`)."""
        return corpus_bleu(hyps, refs, lowercase=self.lowercase)

    def score(self, hyps: Sequence[str], refs: Sequence[str]) -> BleuScore:
        """Corpus BLEU of raw ASR transcripts against raw references under this protocol."""
        return self.score_prepared(self.prepare_hyps(hyps), self.prepare_refs(refs))

    def utterance_stats(self, hyps: Sequence[str], refs: Sequence[str]) -> np.ndarray:
        """sacrebleu's per-utterance statistics of raw texts (for the paired bootstrap)."""
        return utterance_bleu_stats(self.prepare_hyps(hyps), self.prepare_refs(refs), lowercase=self.lowercase)


def make_protocol(name: str = "s2s", lang: str = "en", normalizer: TextNormalizer | None = None) -> BleuProtocol:
    """The ASR-BLEU protocol ``name`` for target language ``lang``.

    Args:
        name: ``s2s``, ``espnet`` or ``fairseq``.
        lang: the target language code (Moses' rules for ``espnet``).
        normalizer: our normalisation, for ``s2s`` (default: :class:`TextNormalizer`'s defaults).

    Raises:
        ConfigError: an unknown name.
    """
    return BleuProtocol(name, lang, normalizer or TextNormalizer())


def protocol_of_run(run: dict[str, Any], lang: str) -> BleuProtocol:
    """The protocol a ``scores.json`` was scored with (``s2s`` for files written before protocols existed)."""
    norm = TextNormalizer(**{k: v for k, v in run["normalization"].items() if k != "signature"})
    name = (run.get("asr_bleu_protocol") or {}).get("name", "s2s")
    return make_protocol(name, lang, norm)
