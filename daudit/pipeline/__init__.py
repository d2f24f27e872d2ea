"""Audit layer: one audit run, spec -> data -> statistics -> models -> checks -> outputs
(`daudit.pipeline.run.run_audit`), and its summary."""
