"""Package metadata for s2s_plugin.

Install the full pinned environment with ``tools/install.sh`` (or ``make install``):
it installs torch (CPU or a CUDA build), torchaudio without its dependencies,
espnet without its ``setuptools<74`` pin (which conflicts with torch's
``setuptools>=77.0.3``), then ``tools/requirements.txt`` and this package. Plain
pip cannot resolve that stack, so there is no ``[all]`` extra: use tools/install.sh
(``TORCH_VERSION``/``TORCH_INDEX_URL`` pick a GPU build). The extras below name
each group's requirements for those who assemble an environment by hand.
``test/test_declarations.py`` checks that every package the code imports is
declared here and that the installed stack satisfies these bounds.
"""
from setuptools import find_packages, setup

#: what every stage needs; the lower bounds are the features the code uses
INSTALL_REQUIRES = [
    "torch>=2.1",
    "torchaudio",        # Kaldi MFCC units and s3prl's imports; install.sh installs it with --no-deps
    "numpy",
    "pluggy>=1.3",
    "PyYAML>=6.0",
    "humanfriendly>=10.0",
    "tqdm",
    "soundfile>=0.12",
    "kaldiio>=2.18",
    "sentencepiece>=0.1.99",
    "sacrebleu>=2.3",
    "sacremoses>=0.1",   # Moses' detokeniser: the espnet ASR-BLEU protocol (s2s_plugin/eval/bleu_protocols.py)
    "jiwer>=3.0",
    "scikit-learn>=1.3",
    "joblib>=1.2",  # peers' k-means files (s2s units import, s2s_plugin/units/peer.py)
    "scipy>=1.11",
    "threadpoolctl>=3.1",  # threadpool_limits around k-means and vocoder jobs (bin/units.py, bin/vocoder.py)
    "matplotlib",
    "librosa>=0.10",  # log-mel spectrograms of the listening page; the DTW of the mcd_dtw quality scorer
]

#: optional groups: the CTC model and aligners, SSL units, the LLM, training, WORLD (vocoder, mcd_dtw), tests
EXTRAS = {
    # einops: espnet2.tasks.asr imports the S4 decoder, which imports einops; espnet does not declare it
    "espnet": ["espnet==202511", "ctc_segmentation>=1.7", "einops"],
    "ssl": ["s3prl==0.4.18"],
    # tokenizers: the exported joint tokenizer; protobuf: reading a sentencepiece model's settings to convert it
    "hf": ["transformers>=4.56", "peft", "tokenizers", "protobuf"],  # 4.56: from_pretrained/from_config take dtype=
    "train": ["lightning>=2.6,<2.7", "tensorboard"],  # the series the suite runs with (Trainer.fit(weights_only=))
    "vocoder": ["pyworld>=0.3.4"],  # the WORLD vocoder and the mcd_dtw quality scorer (WORLD analysis)
    # parallel_wavegan: test/vocoder loads trained unit HiFi-GAN checkpoints with it, as ESPnet does
    "test": ["pytest>=8", "hypothesis>=6.100", "parallel_wavegan==0.6.1"],
}

setup(
    name="s2s_plugin",
    version="0.1.0",
    description="Speech-to-speech translation with LLMs and scheduled interleaved speech-text training",
    long_description=open("README.md", encoding="utf-8").read() if __import__("os").path.exists("README.md") else "",
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["s2s_plugin", "s2s_plugin.*"]),
    package_data={"s2s_plugin": ["py.typed"]},
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS,
    entry_points={"console_scripts": ["s2s = s2s_plugin.bin.main:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Multimedia :: Sound/Audio :: Speech",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
