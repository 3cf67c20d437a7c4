"""The ``nlpkit`` command line.  One module per command group; see :mod:`nlpkit.cli.main`."""
from .main import cli, main

__all__ = ["cli", "main"]
