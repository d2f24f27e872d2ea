"""Audit layer: one audit run, spec -> data -> statistics -> models -> checks -> outputs."""
