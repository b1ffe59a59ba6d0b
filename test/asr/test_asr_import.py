"""Imported CTC models behind the same interface: a transformers Wav2Vec2ForCTC dir and an ESPnet ASR dir."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml
from asr_testutils import ESPNET_DECODER, ESPNET_ENCODER, ESPNET_FRONTEND, FS, espeak, tiny_espnet_asr

from s2s_plugin.asr.ctc import load_ctc_model
from s2s_plugin.asr.imported import _only_upper, detect_model_type
from s2s_plugin.bin.main import main
from s2s_plugin.errors import ConfigError, DataError
from s2s_plugin.protocols import CTCModel

HF_VOCAB = {"a": 0, "b": 1, "|": 2, "<pad>": 3, "<unk>": 4}  # the blank (<pad>) is not at index 0


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory):
    """A tiny randomly initialised Wav2Vec2ForCTC and its processor, saved with save_pretrained."""
    from transformers import (
        Wav2Vec2Config,
        Wav2Vec2CTCTokenizer,
        Wav2Vec2FeatureExtractor,
        Wav2Vec2ForCTC,
        Wav2Vec2Processor,
    )

    d = tmp_path_factory.mktemp("hf_ctc")
    (d / "vocab.json").write_text(json.dumps(HF_VOCAB))
    tok = Wav2Vec2CTCTokenizer(str(d / "vocab.json"), unk_token="<unk>", pad_token="<pad>",
                               word_delimiter_token="|")
    fe = Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=FS, padding_value=0.0, do_normalize=True,
                                  return_attention_mask=False)
    Wav2Vec2Processor(feature_extractor=fe, tokenizer=tok).save_pretrained(d)
    cfg = Wav2Vec2Config(vocab_size=len(HF_VOCAB), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, conv_dim=(16, 16, 16), conv_stride=(5, 8, 8), conv_kernel=(10, 8, 8),
                         num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2, pad_token_id=3)
    torch.manual_seed(0)
    Wav2Vec2ForCTC(cfg).save_pretrained(d)
    return d


def test_hf_import_and_api(hf_dir, tmp_path, capsys):
    from transformers import Wav2Vec2ForCTC

    exp = tmp_path / "exp_hf"
    assert main(["ctc", "import", "--from", str(hf_dir), "--exp", str(exp)]) == 0  # told apart by config.json
    assert "imported hf model" in (out := capsys.readouterr().out) and "50 frames/s, 2 layers" in out
    cfg = yaml.safe_load((exp / "config.yaml").read_text())
    assert cfg["type"] == "hf" and cfg["frame_rate"] == 50.0 and cfg["model_dir"] == str(hf_dir.resolve())
    model = load_ctc_model(exp)
    assert isinstance(model, CTCModel)
    assert model.tokens == ["<pad>", "a", "b", "|", "<unk>"] and model.space_id == 3
    assert (exp / "tokens.txt").read_text().split() == model.tokens
    wave = espeak("bonjour")
    logp = model.log_posteriors(wave, FS)
    ref = Wav2Vec2ForCTC.from_pretrained(hf_dir).eval()
    x = torch.from_numpy((wave - wave.mean()) / np.sqrt(wave.var() + 1e-7))[None]
    with torch.inference_mode():
        want = torch.log_softmax(ref(x).logits[0], -1).numpy()[:, [3, 0, 1, 2, 4]]
    np.testing.assert_allclose(logp, want, atol=1e-5)
    assert abs(logp.shape[0] - len(wave) / FS * 50) <= 1
    assert model.layer_features(wave, FS, 2).shape == (logp.shape[0], 32)
    with pytest.raises(ConfigError, match=r"in 1..2"):
        model.layer_features(wave, FS, 3)
    assert model.word_ids("ab") == [1, 2]
    with pytest.raises(ValueError, match="'c'"):
        model.word_ids("abc")
    assert all(set(t) <= set("ab ") for t in model.transcribe([wave, wave[:8000]]))
    assert _only_upper(["<pad>", "A", "B", "|"]) and not _only_upper(["a", "B"])


@pytest.fixture(scope="module")
def espnet_dir(tmp_path_factory):
    """A tiny hybrid CTC/attention ESPnet ASR model saved the way ESPnet saves one, with global MVN
    statistics whose configured path (relative to an ESPnet recipe) does not exist here."""
    d = tmp_path_factory.mktemp("espnet_asr")
    tokens = ["<blank>", "<unk>", "<space>", "a", "b", "l", "<sos/eos>"]
    model = tiny_espnet_asr(tokens, d / "feats_stats.npz").eval()
    frontend_conf, encoder_conf, decoder_conf = ESPNET_FRONTEND, ESPNET_ENCODER, ESPNET_DECODER
    torch.save(model.state_dict(), d / "valid.acc.ave.pth")
    config = {"token_list": tokens, "token_type": "char", "bpemodel": None, "frontend": "default",
              "frontend_conf": {"fs": "16k", **frontend_conf}, "specaug": None, "normalize": "global_mvn",
              "normalize_conf": {"stats_file": "exp/asr_stats_raw_char/train/feats_stats.npz"},
              "preencoder": None, "encoder": "transformer", "encoder_conf": encoder_conf, "postencoder": None,
              "decoder": "transformer", "decoder_conf": decoder_conf, "ctc_conf": {"dropout_rate": 0.0},
              "model_conf": {"ctc_weight": 0.3}}
    (d / "config.yaml").write_text(yaml.safe_dump(config))
    return d, model


def test_espnet_import_and_api(espnet_dir, tmp_path, capsys):
    src, ref = espnet_dir
    exp = tmp_path / "exp_espnet"
    assert main(["ctc", "import", "--from", str(src), "--exp", str(exp)]) == 0  # config.yaml + *.pth: ESPnet
    assert "imported espnet model" in (out := capsys.readouterr().out) and "25 frames/s, 2 layers" in out
    cfg = yaml.safe_load((exp / "config.yaml").read_text())
    assert cfg["stats_file"] == str((src / "feats_stats.npz").resolve())
    model = load_ctc_model(exp)
    assert isinstance(model, CTCModel) and model.tokens[0] == "<blank>" and model.space_id == 2
    wave = espeak("la balle")
    with torch.inference_mode():
        enc, elens = ref.encode(torch.from_numpy(wave)[None], torch.tensor([len(wave)]))
        want = ref.ctc.log_softmax(enc)[0].numpy()
    np.testing.assert_array_equal(model.log_posteriors(wave, FS), want)
    assert model.frame_rate == 25.0 and model.layer_features(wave, FS, 1).shape == (want.shape[0], 16)
    assert model.word_ids("ab") == [3, 4]
    assert isinstance(model.transcribe([wave])[0], str)


def test_import_errors(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["ctc", "import", "--from", str(tmp_path / "empty"), "--type", "espnet",
                 "--exp", str(tmp_path / "x")]) == 2
    assert "expected ESPnet's config.yaml" in capsys.readouterr().err
    with pytest.raises(DataError, match="not a CTC model dir"):
        load_ctc_model(tmp_path / "empty")


def test_import_tells_the_model_dir_kind_from_its_files(tmp_path, capsys):
    espnet = tmp_path / "espnet"  # ESPnet's packed layout: exp/<asr>/config.yaml and its .pth
    (espnet / "exp" / "asr_train").mkdir(parents=True)
    (espnet / "exp" / "asr_train" / "config.yaml").write_text("token_list: [a]\n")
    (espnet / "exp" / "asr_train" / "valid.acc.ave.pth").write_bytes(b"")
    hf = tmp_path / "hf"
    hf.mkdir()
    (hf / "config.json").write_text("{}")
    assert detect_model_type(espnet) == "espnet" and detect_model_type(hf) == "hf"
    (tmp_path / "neither").mkdir()
    (tmp_path / "neither" / "README").write_text("x")
    with pytest.raises(DataError, match=r"neither\b.*\(it holds README\).*config.json") as e:
        detect_model_type(tmp_path / "neither")
    assert str(tmp_path / "neither") in str(e.value)
    (espnet / "config.json").write_text("{}")
    with pytest.raises(DataError, match="looks like both.*--type espnet or --type hf"):
        detect_model_type(espnet)
    # through the verb: the error names the dir; --type settles the ambiguity (then ESPnet's own checks run)
    assert main(["ctc", "import", "--from", str(espnet), "--exp", str(tmp_path / "x")]) == 2
    assert f"{espnet}: looks like both" in capsys.readouterr().err
    assert main(["ctc", "import", "--from", str(espnet), "--type", "espnet", "--exp", str(tmp_path / "x")]) == 2
    assert "looks like both" not in capsys.readouterr().err


@pytest.mark.parametrize("path", ["light", "espnet"])  # our reader of the CTC parts, or ESPnet's own loader
def test_planted_payload_in_an_espnet_model_is_refused_and_never_run(espnet_dir, tmp_path, monkeypatch, path):
    import shutil

    from payload_testutils import Payload, payload_is_live

    import s2s_plugin.asr.imported as imported

    src, _ = espnet_dir
    planted = tmp_path / "espnet"
    shutil.copytree(src, planted)
    model_file, marker = planted / "valid.acc.ave.pth", tmp_path / "PWNED"
    state = torch.load(model_file, map_location="cpu", weights_only=True)
    state["planted"] = Payload(marker)
    torch.save(state, model_file)
    if path == "espnet":  # ESPnet's ASRTask.build_model_from_file reads with weights_only=False
        monkeypatch.setattr(imported, "_light_espnet_parts", lambda args, n: None)
    with pytest.raises(ConfigError) as e:
        imported.EspnetCTCModel(planted / "config.yaml", model_file, stats_file=planted / "feats_stats.npz")
    assert f"{model_file}: refused to load this ESPnet model file" in str(e.value) and not marker.exists()
    assert payload_is_live(model_file, marker)  # the planted file does run when read without the guard


def _fast_tokenizer(kind: str):
    """A transformers tokenizer on a ``tokenizers`` model built here: SentencePiece-style BPE (``▁``),
    WordPiece (``##``) or a BPE that marks no word boundary."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    if kind == "wordpiece":
        t = Tokenizer(models.WordPiece({"<pad>": 0, "<unk>": 1, "ab": 2, "##ab": 3, "b": 4, "##b": 5, "a": 6,
                                        "##a": 7}, unk_token="<unk>"))
        t.pre_tokenizer = pre_tokenizers.Whitespace()
    else:
        marked = kind == "sentencepiece"
        m = "\u2581" if marked else ""
        vocab = {"<pad>": 0, "<unk>": 1, "a": 2, "b": 3, "ab": 4, "ba": 5}
        merges = [("a", "b"), ("b", "a")]
        if marked:
            vocab.update({m: 6, m + "a": 7, m + "b": 8, m + "ab": 9})
            merges += [(m, "a"), (m, "b"), (m + "a", "b")]
        t = Tokenizer(models.BPE(vocab, merges, unk_token="<unk>"))
        t.pre_tokenizer = pre_tokenizers.Metaspace() if marked else pre_tokenizers.Whitespace()
        if marked:
            t.decoder = decoders.Metaspace()
    return PreTrainedTokenizerFast(tokenizer_object=t, pad_token="<pad>", unk_token="<unk>")


def test_hf_token_types_and_unrecoverable_word_boundaries(tmp_path):
    from transformers import Wav2Vec2CTCTokenizer

    from s2s_plugin.asr.imported import _hf_token_type

    def kind_of(tok):
        names = tok.convert_ids_to_tokens(list(range(len(tok))))
        return _hf_token_type(tok, names, getattr(tok, "word_delimiter_token", None), "models/m")

    assert kind_of(_fast_tokenizer("sentencepiece")) == "bpe"
    assert kind_of(_fast_tokenizer("wordpiece")) == "wordpiece"
    with pytest.raises(DataError, match=r"models/m: its tokenizer \(.*\) has word pieces \(e.g. 'ab'\) but marks no "
                                        r"word boundaries.*set word_delimiter_token in tokenizer_config.json"):
        kind_of(_fast_tokenizer("plain"))
    (tmp_path / "vocab.json").write_text(json.dumps({"<pad>": 0, "<unk>": 1, "|": 2, "a": 3, "b": 4, "ab": 5}))
    ctc_tok = Wav2Vec2CTCTokenizer(str(tmp_path / "vocab.json"), unk_token="<unk>", pad_token="<pad>")
    assert kind_of(ctc_tok) == "pieces"  # its multi-character tokens never split; words between '|'

    class CharSplitter:  # a tokenizer that cuts text into characters whatever its vocabulary holds
        all_special_tokens = ["<pad>"]

        def tokenize(self, text):
            return list(text)

    with pytest.raises(DataError, match=r"models/m: its tokenizer \(CharSplitter\) splits text into characters, but "
                                        r"the vocabulary has 1 multi-character tokens \(e.g. 'ab'\)"):
        _hf_token_type(CharSplitter(), ["<pad>", "a", "b", "ab"], None, "models/m")
    (tmp_path / "vocab.json").write_text(json.dumps({"<pad>": 0, "<unk>": 1, "|": 2, "a": 3, "b": 4}))
    assert kind_of(Wav2Vec2CTCTokenizer(str(tmp_path / "vocab.json"), unk_token="<unk>", pad_token="<pad>")) == "char"


def test_hf_bpe_model_aligns_by_its_own_pieces(tmp_path):
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2ForCTC, Wav2Vec2Processor

    from s2s_plugin.align import CTCSegmentationAligner

    d = tmp_path / "hf_bpe"
    tok = _fast_tokenizer("sentencepiece")
    fe = Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=FS, padding_value=0.0, do_normalize=True,
                                  return_attention_mask=False)
    Wav2Vec2Processor(feature_extractor=fe, tokenizer=tok).save_pretrained(d)
    cfg = Wav2Vec2Config(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, conv_dim=(16, 16, 16), conv_stride=(5, 8, 8), conv_kernel=(10, 8, 8),
                         num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2, pad_token_id=0)
    torch.manual_seed(0)
    Wav2Vec2ForCTC(cfg).save_pretrained(d)
    exp = tmp_path / "exp"
    assert main(["ctc", "import", "--from", str(d), "--type", "hf", "--exp", str(exp)]) == 0
    model = load_ctc_model(exp)
    assert model.token_type == "bpe" and model.space_id is None and model.tokens[0] == "<pad>"
    for word in ("ab", "bab", "a"):  # the tokenizer's pieces, not characters; the first marks the word start
        pieces = [model.tokens[i] for i in model.word_ids(word)]
        assert pieces == tok.tokenize(word) and pieces[0].startswith("\u2581") and "".join(pieces) == "\u2581" + word
    assert [model.tokens[i] for i in model.word_ids("ab")] == ["\u2581", "ab"]  # not the characters 'a', 'b'
    with pytest.raises(ValueError, match="'c'"):
        model.word_ids("abc")
    al = CTCSegmentationAligner(model=str(exp), vad_db=None)
    al.setup(str(tmp_path), "fr")
    spans = al.align("u", ["ab", "bab", "a"], espeak("a b a b a"), FS)
    assert [s.word for s in spans] == ["ab", "bab", "a"]
    assert all(a.end == pytest.approx(b.start) for a, b in zip(spans, spans[1:])) and spans[0].duration > 0


def test_espnet_bpe_word_ids_are_its_pieces(tmp_path):
    import sentencepiece as spm

    from s2s_plugin.asr.imported import EspnetCTCModel

    spm.SentencePieceTrainer.train(sentence_iterator=iter(["la balle bleue", "le ballon", "la lune"] * 20),
                                   model_prefix=str(tmp_path / "bpe"), vocab_size=20, model_type="bpe",
                                   character_coverage=1.0, minloglevel=2)
    sp = spm.SentencePieceProcessor(model_file=str(tmp_path / "bpe.model"))
    model = object.__new__(EspnetCTCModel)  # only the token side: ESPnet's token list = <blank> + pieces + <sos/eos>
    model.sp = sp
    model.tokens = ["<blank>", *[sp.id_to_piece(i) for i in range(sp.get_piece_size())], "<sos/eos>"]
    model.index = {t: i for i, t in enumerate(model.tokens)}
    pieces = [model.tokens[i] for i in model.word_ids("ballon")]
    assert pieces == sp.encode("ballon", out_type=str) and pieces[0].startswith("\u2581") and len(pieces) < 6
    with pytest.raises(ValueError, match=r"word 'bz' has characters not in the model vocabulary: 'z'"):
        model.word_ids("bz")  # SentencePiece maps 'z' to <unk>, which is in the token list: still refused
