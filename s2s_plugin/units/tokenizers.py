"""The built-in unit tokenizers: a feature extractor plus streaming k-means.

    from s2s_plugin.registry import get_registry

    tok = get_registry().build("unit_tokenizer", {"name": "mfcc_kmeans", "n_clusters": 100})
    tok.fit(stream_of_feature_arrays)     # see s2s_plugin.units.stage.fit_units
    tok.save("exp/units")
    units = tok.encode(wave, 16000)        # (T,) int32 in [0, 100)

Every class takes the k-means arguments ``n_clusters`` (the paper: 2048),
``batch_size`` (frames per mini-batch), ``epochs`` (passes over the fit
portion) and ``seed``, plus the arguments of its features. They implement
:class:`s2s_plugin.protocols.UnitTokenizer`.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from s2s_plugin.errors import ConfigError
from s2s_plugin.units.features import CtcLayerFeatures, HfFeatures, MfccFeatures, S3prlFeatures
from s2s_plugin.units.kmeans import StreamingKMeans


class _FeatureKMeans:
    """Shared plumbing: ``self.extractor`` gives features, ``self.kmeans`` quantises them."""

    name = ""
    extractor: Any
    kmeans: StreamingKMeans

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name}, {self.kmeans!r})"

    @property
    def frame_rate(self) -> float:
        return float(self.extractor.frame_rate)

    @property
    def n_clusters(self) -> int:
        return self.kmeans.n_clusters

    def features(self, wav: np.ndarray, sr: int) -> np.ndarray:
        return self.extractor(wav, sr)

    def features_batch(self, waves: Sequence[tuple[np.ndarray, int]]) -> list[np.ndarray]:
        """The features of several ``(wav, sr)`` in order; batched when the extractor can (``extract_batch_size``)."""
        batch = getattr(self.extractor, "batch", None)
        if batch is not None:
            return batch(waves)
        return [self.extractor(wav, sr) for wav, sr in waves]

    @property
    def extract_batch_size(self) -> int:
        """Utterances the extractor runs per forward pass (1 for extractors without batches)."""
        return int(getattr(self.extractor, "batch_size", 1))

    def fit(self, features) -> dict[str, Any]:
        return self.kmeans.fit(features)

    def encode(self, wav: np.ndarray, sr: int) -> np.ndarray:
        return self.kmeans.assign(self.features(wav, sr))

    def encode_batch(self, waves: Sequence[tuple[np.ndarray, int]]) -> list[np.ndarray]:
        """The units of several ``(wav, sr)`` in order (see :meth:`features_batch`)."""
        return [self.kmeans.assign(f) for f in self.features_batch(waves)]

    def save(self, directory: str | Path) -> None:
        self.kmeans.save(directory)

    def load(self, directory: str | Path) -> None:
        self.kmeans.load(directory)


class MfccKmeans(_FeatureKMeans):
    """K-means on MFCCs + deltas with per-utterance CMVN: units without any model.

    Example block (``conf/units_mfcc.yaml``)::

        tokenizer: {name: mfcc_kmeans, n_clusters: 200, frame_shift_ms: 20.0}

    Args:
        n_clusters, batch_size, epochs, seed: the k-means (see the module docstring).
        num_ceps, num_mel_bins, delta_order, cmvn, frame_shift_ms, frame_length_ms:
            the features (:class:`~s2s_plugin.units.features.MfccFeatures`).
    """

    name = "mfcc_kmeans"

    def __init__(self, n_clusters: int = 100, batch_size: int = 10000, epochs: int = 1, seed: int = 0,
                 num_ceps: int = 13, num_mel_bins: int = 23, delta_order: int = 2, cmvn: bool = True,
                 frame_shift_ms: float = 10.0, frame_length_ms: float = 25.0) -> None:
        self.extractor = MfccFeatures(num_ceps, num_mel_bins, delta_order, cmvn, frame_shift_ms, frame_length_ms)
        self.kmeans = StreamingKMeans(n_clusters, batch_size, epochs, seed)


class CtcKmeans(_FeatureKMeans):
    """K-means on one encoder layer of the stage-3 CTC model (the paper's ASR-fine-tuned units).

    Example block::

        tokenizer: {name: ctc_kmeans, layer: 4, n_clusters: 300}   # exp_dir: s2s units fit --ctc_exp

    Args:
        exp_dir: the CTC model's exp dir, loaded with ``s2s_plugin.asr.ctc.load_ctc_model``; a recipe
            passes it (``--ctc_exp``, see ``recipe_paths``), so a recipe's config leaves it out.
        layer: the encoder block whose output is clustered (1-based, as ``layer_features`` counts).
        device: ``cpu``, ``cuda`` or ``auto``.
        n_clusters, batch_size, epochs, seed: the k-means.
    """

    name = "ctc_kmeans"
    #: the recipe's stage-3 model is this plugin's exp_dir (``s2s_plugin.config.fill_recipe_paths``)
    recipe_paths = {"exp_dir": "ctc_exp"}

    def __init__(self, exp_dir: str | None = None, *, layer: int, device: str = "cpu", n_clusters: int = 2048,
                 batch_size: int = 10000, epochs: int = 1, seed: int = 0) -> None:
        if not exp_dir:
            raise ConfigError("ctc_kmeans: no CTC model (key 'tokenizer.exp_dir'): give --ctc_exp DIR (s2st.sh "
                              "passes stage 3's exp/ctc) or the override tokenizer.exp_dir=DIR")
        self.extractor = CtcLayerFeatures(exp_dir, layer, device)
        self.kmeans = StreamingKMeans(n_clusters, batch_size, epochs, seed)


class S3prlKmeans(_FeatureKMeans):
    """K-means on one layer of an s3prl upstream from a local checkpoint (HuBERT, mHuBERT, ...).

    Example block (SpeechMatrix-style mHuBERT units)::

        tokenizer: {name: s3prl_kmeans, upstream: hubert_local, ckpt: /models/mhubert_base_vp_en_es_fr_it3.pt,
                    layer: 11, n_clusters: 1000}

    Args:
        upstream: s3prl hub entry for a local checkpoint (``hubert_local``, ``wav2vec2_local``, ...).
        ckpt: path of the checkpoint file.
        layer: index into the upstream's hidden states (0 = before the first transformer layer).
        device: ``cpu`` or ``cuda``.
        n_clusters, batch_size, epochs, seed: the k-means.
    """

    name = "s3prl_kmeans"

    def __init__(self, ckpt: str, layer: int, upstream: str = "hubert_local", device: str = "cpu",
                 n_clusters: int = 2048, batch_size: int = 10000, epochs: int = 1, seed: int = 0) -> None:
        self.extractor = S3prlFeatures(upstream, ckpt, layer, device)
        self.kmeans = StreamingKMeans(n_clusters, batch_size, epochs, seed)


class HfKmeans(_FeatureKMeans):
    """K-means on one hidden layer of a transformers speech model directory (e.g. w2v-BERT 2.0).

    Example block (the paper: w2v-BERT fine-tuned as CTC ASR, layer 20, 2048 clusters)::

        tokenizer: {name: hf_kmeans, model_dir: /models/w2v-bert-2.0-ctc, layer: 20, n_clusters: 2048,
                    extract_batch_size: 16}

    Args:
        model_dir: directory written by ``save_pretrained`` by transformers 4 or 5 (config, weights,
            and the feature extractor's settings in ``preprocessor_config.json`` or ``processor_config.json``),
            or a stage-3 CTC exp dir holding a transformers model. A block that leaves it out gets the
            recipe's stage-3 model (``--ctc_exp``, see ``recipe_paths``): the paper's units come from
            the CTC model that also aligns, named once by the recipe.
        layer: index into ``hidden_states`` (0 = before the first transformer layer).
        device: ``cpu`` or ``cuda``.
        frame_rate: frames per second, only for models whose config does not tell it.
        extract_batch_size: utterances per forward pass, sorted by length and padded with an
            attention mask (:class:`~s2s_plugin.units.features.HfFeatures`); 1 runs them one at a time.
        n_clusters, batch_size, epochs, seed: the k-means (``batch_size`` is in frames).
    """

    name = "hf_kmeans"
    #: without its own model_dir, the recipe's stage-3 model (``s2s_plugin.config.fill_recipe_paths``)
    recipe_paths = {"model_dir": "ctc_exp"}

    def __init__(self, model_dir: str | None = None, *, layer: int, device: str = "cpu",
                 frame_rate: float | None = None, extract_batch_size: int = 16, n_clusters: int = 2048,
                 batch_size: int = 10000, epochs: int = 1, seed: int = 0) -> None:
        if not model_dir:
            raise ConfigError("hf_kmeans: no model (key 'tokenizer.model_dir'): give a transformers model dir, or "
                              "--ctc_exp DIR (s2st.sh passes stage 3's exp/ctc, a transformers CTC model trained "
                              "or imported there)")
        self.extractor = HfFeatures(model_dir, layer, device, frame_rate, extract_batch_size)
        self.kmeans = StreamingKMeans(n_clusters, batch_size, epochs, seed)
