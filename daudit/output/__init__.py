"""Output layer: tables, figures, the Markdown report and the staging folder."""
