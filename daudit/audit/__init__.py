"""Audit layer: one audit run, spec -> data -> statistics -> models -> checks -> outputs.

``daudit.audit`` is also the API function: ``daudit.audit(spec_or_path, output_dir=...)`` runs an
audit and returns an `AuditResult` (`daudit.app.api.audit`; the root package makes this package
callable, since Python would replace a function of the same name by it).
"""
