"""Package metadata for s2s_plugin.

Install the full pinned environment with ``tools/install.sh`` (or ``make``);
``pip install -e .[all]`` works too where torch is already installed.
"""
from setuptools import find_packages, setup

extras = {
    "espnet": ["espnet==202511", "ctc_segmentation>=1.7"],
    "ssl": ["s3prl==0.4.18"],
    "hf": ["transformers>=4.45", "peft"],
    "train": ["lightning>=2.4", "tensorboard"],
    "vocoder": ["pyworld>=0.3.4"],
    "test": ["pytest>=8", "hypothesis>=6.100"],
}
extras["all"] = sorted({r for reqs in extras.values() for r in reqs})

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
    install_requires=[
        "torch>=2.1",
        "numpy",
        "pluggy>=1.3",
        "PyYAML>=6.0",
        "humanfriendly>=10.0",
        "tqdm",
        "soundfile>=0.12",
        "kaldiio>=2.18",
        "sentencepiece>=0.1.99",
        "sacrebleu>=2.3",
        "jiwer>=3.0",
        "scikit-learn>=1.3",
        "scipy>=1.10",
        "matplotlib",
        "librosa>=0.10",  # log-mel spectrograms of the listening page
    ],
    extras_require=extras,
    entry_points={"console_scripts": ["s2s = s2s_plugin.bin.main:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Multimedia :: Sound/Audio :: Speech",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
