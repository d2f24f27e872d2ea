"""The one exception type that the CLI turns into a one-line message and exit code 2."""

from __future__ import annotations

import errno

__all__ = ["DauditError", "DauditInternalError", "InputChangedError", "EXIT_BAD_INPUT", "os_error_parts"]

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


_FIXES = {errno.ENOSPC: "free disk space, then rerun", errno.EDQUOT: "free disk space (quota), then rerun",
          errno.EACCES: "fix the permissions, then rerun", errno.EPERM: "fix the permissions, then rerun",
          errno.EROFS: "the file system is read-only: write elsewhere",
          errno.EPIPE: "the reader of daudit's output (a pipe) went away: rerun without the pipe or keep its reader open",
          errno.ENOENT: "a file or folder daudit was using was removed meanwhile: rerun",
          errno.ENOTDIR: "a part of the path is a file, not a folder: choose another path",
          errno.EISDIR: "a folder stands where a file is needed: choose another path"}


def os_error_parts(err: OSError) -> tuple[str, str, str]:
    """``(" on FILE" or "", the cause, the fix of that cause)`` of a file-system error.

    The fix follows the error number: "free disk space" only for a full disk or quota,
    "permissions" only for a permission error; otherwise the cause is named and left to fix.
    """
    where = f" on {err.filename}" if err.filename else ""
    text = str(err).strip()
    cause = err.strerror or (text.splitlines()[0][:200] if text else type(err).__name__)
    return where, cause, _FIXES.get(err.errno, "fix the cause named here, then rerun")
