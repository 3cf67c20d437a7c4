"""Scoring: hash tables over a model and the kernels that score text with them (CPU and CUDA)."""
