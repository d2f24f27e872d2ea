"""Execution engine: streamed folds over row chunks, the Dask cluster, memory accounting."""
