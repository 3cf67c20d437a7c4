"""Subword tokenizers: BPE and WordPiece, trained and applied by Numba kernels,
read and written as Hugging Face ``tokenizer.json``.

``model.py`` holds the estimators, ``pipeline.py`` the stages around the model
(normalizers, pre-tokenizers, decoders), ``formats.py`` the file reader,
``train_kernels.py`` and ``encode_kernels.py`` the kernels.
"""
from .model import BPE, SubwordTokenizer, WordPiece, load_tokenizer
from .pipeline import UnsupportedConfig

__all__ = ["BPE", "WordPiece", "SubwordTokenizer", "load_tokenizer", "UnsupportedConfig"]
