"""Stage 9: chain-of-thought decoding with per-segment token constraints."""
