"""Bundled public-domain corpora (installed as the package ``nlpkit.data``)."""
