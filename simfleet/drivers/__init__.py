"""Composition roots: the CLI, the embedded CSMS runner; nothing imports drivers."""
