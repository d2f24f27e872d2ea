"""Human-readable durations for log lines, status lines, estimates and the run table."""

from __future__ import annotations

__all__ = ["format_duration"]


def format_duration(seconds: float | None) -> str:
    """``"42.0 s"``, ``"3m 05s"`` or ``"2h 07m"``; ``"-"`` when unknown.

    Parameters
    ----------
    seconds : float or None
        A duration in seconds (negative values count as 0).
    """
    if seconds is None:
        return "-"
    seconds = max(float(seconds), 0.0)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"
