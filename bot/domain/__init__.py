"""PURE rules: who sees and decides what, hours, figures, errors (no I/O)."""
