"""Foundations every layer may use: errors, the spec, atomic writes, progress bars."""
