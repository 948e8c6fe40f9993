"""The floor: errors, safe file I/O and mask/RLE helpers that data, inference, evaluation and the tools share.

Nothing here imports another querytrack package, so every package above can depend on it without cycles
(``docs/architecture.md``).
"""
