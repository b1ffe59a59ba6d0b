"""Data directories, Kaldi-style file I/O, validation and audio formatting.

- :mod:`~s2s_plugin.data.io`: Kaldi text files, CTMs, atomic writes.
- :mod:`~s2s_plugin.data.datadir`: :class:`DataDir` and :class:`Utterance`, audio by utterance id.
- :mod:`~s2s_plugin.data.validate`: ``s2s data validate``, every problem at once.
- :mod:`~s2s_plugin.data.format`: ``s2s data format``, stage 2 (resample, filter, dump).

Nothing heavy is imported here, so ``s2s --help`` stays fast.
"""
