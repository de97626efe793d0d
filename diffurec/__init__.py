"""DiffuRec and the DiffuRecSys variants (cross-attention, offset noise) as plain PyTorch.

The package knows nothing of DVC or of files on disk: the `pipeline` package does the I/O.
"""
