"""Application layer: the command line, background runs, run history, publishing."""
