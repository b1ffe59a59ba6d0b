"""Word-level speech-text interleaving and the schedulers of its text ratio."""
