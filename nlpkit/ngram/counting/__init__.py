"""Counting: n-gram counts of encoded text, in memory or as sorted runs spilled to disk and merged."""
