"""Editing built models: relative-entropy pruning, mixing, vocabulary filtering."""
