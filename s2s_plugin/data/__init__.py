"""Data directories, Kaldi-style file I/O, validation and audio formatting."""
