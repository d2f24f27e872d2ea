"""The one exception type that the CLI turns into a one-line message and exit code 2."""

__all__ = ["DauditError", "DauditInternalError", "InputChangedError", "EXIT_BAD_INPUT"]

EXIT_BAD_INPUT = 2


class DauditError(Exception):
    """A problem with the user's input or environment, stated in one line with its fix.

    The CLI prints ``daudit: error: <message>`` and exits with code 2; the traceback is shown
    only with ``--debug``. Raise it ``from`` the low-level exception so the cause is kept.
    """


class InputChangedError(DauditError):
    """An input file or a cache entry that changed, vanished or no longer matches its recorded
    content while a run used it: the run stops (one line, exit 2) rather than give a verdict on
    data it did not audit."""


class DauditInternalError(RuntimeError):
    """A broken internal invariant: a bug in daudit, never a property of the input.

    Not caught by the CLI (the traceback is the report); e.g. a train R2 from the statistics that
    disagrees with the R2 of the reported coefficients' predictions.
    """
