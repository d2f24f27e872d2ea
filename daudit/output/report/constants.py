"""Constants shared by the report and the figures: reference lines, the R2 axis floor.

The wavelengths are fixed physical constants (Angstrom), not results: the number checker of the
report treats ``"<name> <wavelength:.1f>"`` as an identifier, like ``Gate-1``.
"""

__all__ = ["DEFAULT_LINES", "NEAR_LINE_ANGSTROM", "R2_AXIS_FLOOR", "line_label", "nearest_line"]

# (species, wavelength in Angstrom); all fall in the PFS medium-resolution arm.
DEFAULT_LINES = (
    ("K I", 7664.9),
    ("K I", 7699.0),
    ("Na I", 8183.3),
    ("Na I", 8194.8),
    ("Ca II", 8498.0),
    ("Ca II", 8542.1),
    ("Ca II", 8662.1),
    ("Mg I", 8806.8),
)

# A pixel closer than this to a line centre counts as "at the line" (a few resolution elements
# of the PFS medium-resolution arm).
NEAR_LINE_ANGSTROM = 5.0

# Lower limit of the R2 axis in the model figure; bars below it are clipped and annotated.
R2_AXIS_FLOOR = -0.2


def line_label(name, wavelength):
    """The label of one line, e.g. ``"Ca II 8542.1"``."""
    return f"{name} {wavelength:.1f}"


def nearest_line(wavelength, *, lines=DEFAULT_LINES, max_distance=NEAR_LINE_ANGSTROM):
    """The reference line nearest to `wavelength` (Angstrom) within `max_distance`, else None.

    Returns
    -------
    (name, line_wavelength) or None
    """
    best = None
    for name, wl in lines:
        d = abs(float(wavelength) - wl)
        if d <= max_distance and (best is None or d < best[0]):
            best = (d, name, wl)
    return None if best is None else (best[1], best[2])
