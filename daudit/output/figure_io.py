"""Writing a figure: PNG at the report's resolution, atomically (temporary file + `os.replace`)."""

from __future__ import annotations

__all__ = ["DPI", "save_figure"]

import os
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt  # noqa: E402

DPI = 130


def save_figure(fig, path) -> Path:
    """Write `fig` to `path` atomically (tmp file in the same directory + os.replace), close it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp.png")
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=DPI, format="png")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the usual file mode
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    finally:
        plt.close(fig)
    return path
