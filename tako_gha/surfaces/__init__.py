"""Surfaces people touch: the CLI, the action entry, the git hook, reports."""
