"""Data layer: the pfsspec layout, readers into Dask arrays, caches, validation, inspect."""
