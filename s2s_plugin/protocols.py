"""The interface each kind of plugin implements, in one place.

Plugins implement these (structural typing); they never need to inherit from
a toolkit class. ``isinstance(obj, InterleaveScheduler)`` works at run time.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable


@runtime_checkable
class InterleaveScheduler(Protocol):
    """Maps the global optimiser step to the text ratio ``p`` of interleaving.

    ``p`` is the share of words whose speech units are replaced by text
    (0 = pure units, as at inference). Example::

        sched = StepScheduler(p_init=0.9, decrement=0.1, every=300)
        sched.value(299), sched.value(300)   # 0.9, 0.8: the trainer's p at optimiser steps 299, 300
        state = sched.state_dict()           # saved with the checkpoint

    The trainer reads ``value(global_step)`` only. The built-ins also have
    ``step()`` (p now, then advance a counter of their own) for stand-alone
    use; a plugin need not.
    """

    name: ClassVar[str]

    def value(self, step: int) -> float:
        """Text ratio at global optimiser step ``step`` (>= 0), in [0, 1]."""

    def state_dict(self) -> dict[str, Any]:
        """State to store in a checkpoint (its name and parameters)."""

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output; the parameters must match."""


@runtime_checkable
class UnitTokenizer(Protocol):
    """Turns audio into discrete speech units: frame features, then a quantiser fitted in stage 4.

    ``frame_rate`` is the number of feature frames (and so of units) per
    second. ``fit`` may iterate ``features`` more than once (one pass per
    epoch); ``save``/``load`` write and read the fitted state in an exp dir.
    Example::

        tok = MfccKmeans(n_clusters=64)
        tok.fit([tok.features(w, 16000) for w in waves])
        tok.save("exp/units")          # later: tok.load("exp/units")
        units = tok.encode(wave, 16000)   # (T,) ints in [0, n_clusters)
    """

    name: ClassVar[str]

    @property
    def frame_rate(self) -> float:
        """Frames (units) per second of :meth:`features` and :meth:`encode`."""

    @property
    def n_clusters(self) -> int:
        """Size of the unit vocabulary: units are in ``range(n_clusters)``."""

    def features(self, wav: Any, sr: int) -> Any:
        """``(T, D)`` float32 features of a 1-D waveform ``wav`` sampled at ``sr`` Hz."""

    def fit(self, features: Any) -> dict[str, Any]:
        """Fit the quantiser on an iterable of ``(T, D)`` arrays; return statistics to log."""

    def encode(self, wav: Any, sr: int) -> Any:
        """``(T,)`` integer units of a waveform (needs :meth:`fit` or :meth:`load` first)."""

    def save(self, directory: Any) -> None:
        """Write the fitted state into ``directory``."""

    def load(self, directory: Any) -> None:
        """Read the state :meth:`save` wrote."""


if TYPE_CHECKING:  # numpy only names the waveform type of ASRModel and QualityScorer
    import numpy as np


@runtime_checkable
class ASRModel(Protocol):
    """Transcribes speech for scoring (stage 11: ASR-BLEU and its toplines).

    ``transcribe`` returns raw transcripts; the scorer normalises them and the
    references the same way. Example::

        asr = get_registry().build("asr_model", {"name": "ctc", "exp_dir": "exp/asr_en"})
        asr.transcribe([wave_a, wave_b], 16000)    # ['the black cat eats', 'two red dogs']
    """

    name: ClassVar[str]

    def transcribe(self, wavs: list[np.ndarray], sr: int) -> list[str]:
        """One transcript per 1-D float waveform sampled at ``sr`` Hz, in input order."""


@runtime_checkable
class QualityScorer(Protocol):
    """Scores speech quality (stage 11: quality per set beside ASR-BLEU).

    One number per waveform (a predicted MOS, an SNR in dB, a distortion in
    dB, ...); NaN where a waveform cannot be scored (empty, too short), which
    stage 11 counts as unscored. ``unit`` says what the number is, for the
    reports. Example::

        scorer = get_registry().build("quality_scorer", {"name": "wada_snr"})
        scorer.score([wave_a, wave_b], 16000)    # [24.3, 11.0]

    Two optional class attributes (read with ``getattr``, so a scorer
    without them still implements this protocol and ``isinstance`` holds):

    - ``higher_is_better`` (default True): False for a distortion or error,
      where lower is better; the reports say which;
    - ``needs_reference`` (default False): True for a scorer that compares
      each waveform with the reference target speech of its utterance
      (``mcd_dtw``): stage 11 then calls ``score(wavs, sr, refs=...)`` with
      ``refs[i] = (reference wave, its rate)``, and the "reference speech"
      topline, which would compare the reference with itself, is left out::

          scorer = get_registry().build("quality_scorer", {"name": "mcd_dtw"})
          scorer.score([ours], 16000, refs=[(reference, 22050)])   # [7.9]
    """

    name: ClassVar[str]
    unit: ClassVar[str]

    def score(self, wavs: list[np.ndarray], sr: int) -> list[float]:
        """One score per 1-D float waveform sampled at ``sr`` Hz, in input order (a scorer with
        ``needs_reference`` also takes ``refs``, one ``(wave, rate)`` per waveform)."""


@runtime_checkable
class CTCModel(Protocol):
    """A CTC acoustic model (``s2s_plugin.asr.ctc.load_ctc_model``): aligns words, feeds units.

    Column 0 of the posteriors is the CTC blank; frames are evenly spaced at
    ``frame_rate`` per second. Example::

        model = load_ctc_model("exp/ctc")
        logp = model.log_posteriors(wave, 16000)        # (T, len(model.tokens)) numpy
        feats = model.layer_features(wave, 16000, 3)    # (T, D): after encoder block 3
        model.transcribe([wave])                         # ['le chat noir']
        model.word_ids("chat")                           # token ids; ValueError for unknown characters
    """

    tokens: list[str]
    frame_rate: float
    sample_rate: int
    num_layers: int
    space_id: int | None

    def log_posteriors(self, wav: Any, sr: int) -> Any:
        """``(T, V)`` numpy log posteriors of a mono waveform at rate ``sr``."""

    def layer_features(self, wav: Any, sr: int, layer: int) -> Any:
        """``(T, D)`` numpy hidden output after encoder block ``layer`` (1..num_layers), at ``frame_rate``."""

    def transcribe(self, wavs: Any, sr: int | None = None) -> list[str]:
        """Greedy transcripts of waveforms (at ``sr``, default the model's rate)."""

    def word_ids(self, word: str) -> list[int]:
        """Token ids of one word as the model emits them in a sentence (its characters, or its word pieces
        with the first marked as a word start); ``ValueError`` naming the characters the vocabulary lacks.
        Words are separated by the token ``space_id``, or follow each other when it is None."""


@runtime_checkable
class Aligner(Protocol):
    """Maps the audio of an utterance and its words to one time span per word (a CTM).

    ``setup`` is called once per data set and language before its utterances;
    ``align`` raises ``s2s_plugin.align.AlignmentError`` when the words cannot
    be aligned (the stage reports the utterance) and may warn with
    ``s2s_plugin.align.AlignmentWarning``. Example::

        aligner = UniformAligner(span="speech")
        aligner.setup("dump/test_fr", "fr")
        spans = aligner.align("utt1", ["le", "chat"], wave, 16000)   # [WordSpan('le', 0.12, 0.2), ...]
    """

    name: ClassVar[str]

    def setup(self, data_dir: str, lang: str) -> None:
        """Prepare for the utterances of ``data_dir`` in ``lang`` (e.g. read a CTM, load a model)."""

    def align(self, utt_id: str, words: list[str], wav: Any, sr: int) -> list[Any]:
        """One ``s2s_plugin.data.io.WordSpan`` per word, in order, in seconds from the start of ``wav``."""


@runtime_checkable
class LLMDecoder(Protocol):
    """The language model that reads and writes tokens (stages 7-9).

    Training builds it from its config block and calls ``build(vocab)``: a
    causal LM (``forward(input_ids, attention_mask) -> .logits``, ``generate``-free:
    decoding runs its own loop) whose embedding rows are laid out as ``vocab``.
    Stage 8 exports the trained weights to ``exp/<tag>/model`` with the model's
    own ``save_pretrained`` and writes the block's ``name`` to ``model/llm.yaml``;
    stage 9 looks that name up and calls the class's ``load_trained(model_dir,
    device, dtype)``, so a third-party decoder decodes what it trained. Example::

        model = HFDecoder(path="exp/lm/model").build(vocab)        # stage 8
        model = HFDecoder.load_trained("exp/s2st/model", "cpu", torch.float32)   # stage 9
    """

    name: ClassVar[str]

    def build(self, vocab: Any) -> Any:
        """The model to train, its vocabulary laid out as ``vocab`` (``s2s_plugin.llm.vocab.Vocabulary``)."""

    @classmethod
    def load_trained(cls, model_dir: Any, device: Any, dtype: Any) -> Any:
        """The exported model of ``model_dir`` on ``device`` in ``dtype``, ready for decoding (eval mode)."""


@runtime_checkable
class Vocoder(Protocol):
    """Turns a discrete unit sequence into a waveform (stage 10).

    Stage 10 builds the vocoder from its config block (``frame_rate`` and
    ``n_units`` filled in from stage 4's ``units.<lang>.info`` when the class
    takes them), calls ``fit(examples)`` when the class has a ``fit`` (optional:
    ``examples`` lazily yields ``(wave, sample_rate, units)`` training
    pairs; a pretrained vocoder may ignore it and only check its checkpoint;
    it returns statistics to log), then ``save``; synthesis rebuilds it from
    the saved config and calls ``load``. Example::

        voc = WorldVocoder(frame_rate=50.0)
        voc.fit((wave, 16000, units) for wave, units in pairs)
        voc.save("exp/vocoder")                 # later: voc.load("exp/vocoder")
        wave, sr = voc.synthesize([5, 5, 17])   # float32 samples, their rate

    ``synthesize`` raises ``s2s_plugin.errors.DataError`` for an empty
    sequence or a unit outside ``0..n_units-1``. It may take keyword options
    that each synthesis chooses (``speaker`` of a multi-speaker vocoder):
    stage 10 passes those of its ``synthesis`` block that are set, and refuses
    one that ``synthesize`` does not take. A vocoder that reads one unit
    per frame (repeats kept) has a classmethod ``needs_frame_units(block)``
    returning True for that config block; stage 10 then refuses units that
    stage 4 de-duplicated.
    """

    name: ClassVar[str]

    @property
    def sample_rate(self) -> int:
        """Sample rate of :meth:`synthesize`'s output, Hz."""

    @property
    def n_units(self) -> int | None:
        """Units ``0..n_units-1`` are valid (after ``fit`` or ``load``)."""

    def synthesize(self, units: Any) -> tuple[Any, int]:
        """``(float32 samples, sample_rate)`` of a unit sequence (ints, e.g. a list or array)."""

    def save(self, directory: Any) -> None:
        """Write the fitted state (or a description of the checkpoint used) into ``directory``."""

    def load(self, directory: Any) -> None:
        """Read the state :meth:`save` wrote (a pretrained vocoder loads its checkpoint)."""


#: the interface each plugin kind implements; the registry checks a class's methods against it
PROTOCOLS: dict[str, type] = {
    "interleave_scheduler": InterleaveScheduler,
    "unit_tokenizer": UnitTokenizer,
    "asr_model": ASRModel,
    "aligner": Aligner,
    "vocoder": Vocoder,
    "llm_decoder": LLMDecoder,
    "quality_scorer": QualityScorer,
}


def required_methods(protocol: type) -> list[str]:
    """The methods (plain and class methods, not properties or data) a class of ``protocol`` must have."""
    out = []
    for name, value in vars(protocol).items():
        if name.startswith("_") or isinstance(value, property):
            continue
        if callable(value) or isinstance(value, (classmethod, staticmethod)):
            out.append(name)
    return sorted(out)
