"""Constants shared by the report and the figures: headings, reference lines, the R² axis floor.

The lines are the catalogue's (`daudit.data.catalogue`), not results: the number checker of the
report treats every catalogue label (``"Ca II 8542.1"``, ``"O2 A 吸收带（7594–7700 Å）"``) as
an identifier, like ``Gate-1``.
"""

from daudit.data.catalogue import stellar_lines

__all__ = ["DEFAULT_LINES", "WEAK_LINES", "R2_AXIS_FLOOR", "CLIP_LABEL_LIMIT", "HEADINGS"]

# The template's headings, in order: English (the body under them is Chinese). "{gate}" is the gate's name.
HEADINGS = {
    "upstream": "## 🔗 Upstream Links",
    "overview": "## ⚡ Key Results at a Glance",
    "goal": "## 🎯 Objective",
    "design": "## 🧪 Experiment Design",
    "data": "### 2.1 Data",
    "models": "### 2.2 Models",
    "checks": "### 2.3 Sanity Checks",
    "figures": "## 📊 Figures",
    "fig1": "### Fig 1: Error-Only R² Across Models",
    "fig2": "### Fig 2: Feature Importance Spectrum",
    "fig3": "### Fig 3: Sanity Check Results",
    "insights": "## 💡 Key Insights",
    "conclusions": "## 📝 Conclusions",
    "findings": "### 5.1 Core Findings",
    "gate": "### 5.2 {gate} Verdict",
    "implications": "### 5.3 Design Implications",
    "appendix": "## 📎 Appendix",
    "results": "### 6.1 Numerical Results",
    "sanity": "### 6.2 Sanity Check Details",
}

_STRONG = ("K I", "Na I", "Ca II", "Mg I")
# (species, wavelength in Angstrom) of the strong lines labelled in the figures; all in the PFS MR arm.
DEFAULT_LINES = tuple((s, w) for s, w in stellar_lines() if s in _STRONG and w != 8736.02)
# The other catalogue lines (Fe I, Mg I 8736, ...): drawn as ticks, not labelled.
WEAK_LINES = tuple((s, w) for s, w in stellar_lines() if (s, w) not in DEFAULT_LINES)

# Lower limit of the R² axis in the model figures; bars below it are clipped (hatched).
R2_AXIS_FLOOR = -0.2
# A clipped bar is labelled with its value only above this (a -1855767.77 on a bar says nothing).
CLIP_LABEL_LIMIT = -100.0
