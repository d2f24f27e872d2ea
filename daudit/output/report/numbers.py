"""Self-check of a rendered report: every number in it must come from summary.json.

The report formats raw floats of the summary (R2, MAE, RMSE with 4 decimals, wavelengths with 1,
shares as percent with 1). The checker extracts each numeric token of the report body and looks
for a summary value that, formatted to the same number of decimals, gives the same text.
"""

__all__ = ["numbers_not_in_summary", "numeric_tokens"]

import math
import re

from daudit.data.catalogue import feature_labels

# A number not glued to a letter, digit, underscore or dot on its left (so "Top-40" gives 40,
# "Ridge_0.1" gives nothing); an optional sign only where the left side is not alphanumeric.
_NUMBER = re.compile(
    r"(?<![A-Za-z0-9_.])"
    r"(?P<num>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)"
    r"(?P<suffix>%|k(?![A-Za-z0-9_]))?"
    r"(?![A-Za-z0-9_]|\.\d)"
)

# Fixed identifiers of the template and other non-result digits, removed before tokenising.
_SKIP_PATTERNS = [
    r"!\[[^\]]*\]\([^)]*\)",  # image links
    r"[\w./-]+\.(?:png|md|csv|json|log|h5|hdf5|yaml|yml)\b",  # file names
    r"\*\*MVP:\*\*\s*\d+(?:\.\d+)*",  # "**MVP:** 0.1" in the header
    r"\bMVP-\d+(?:\.\d+)*",
    r"\bGate-\d+",
    r"\bFig\.?\s*\d+",
    r"\bH\d+\b",
    r"§[A-Za-z]*\d+(?:\.\d+)*",
    r"\b\d+\.\d+\.\d+\b",  # version strings
    r"\b\d{4}-\d{2}-\d{2}(?:[T ][0-9:.]+(?:Z|[+-]\d{2}:?\d{2})?)?",  # dates, ISO timestamps
    r"^\s*\d+\.\s",  # ordered-list markers
]


def _strip_identifiers(text, summary):
    literal = set(feature_labels())
    for key in ("experiment_id", "date"):
        if isinstance(summary.get(key), str):
            literal.add(summary[key])
    gate = summary.get("gate") or {}
    if isinstance(gate.get("name"), str):
        literal.add(gate["name"])
    for row in summary.get("metrics") or []:
        if isinstance(row.get("model"), str):
            literal.add(row["model"])
    for name in ((summary.get("importance") or {}).get("models") or {}):
        literal.add(str(name))
    for lit in sorted(literal, key=len, reverse=True):
        text = text.replace(lit, " ")
    for pattern in _SKIP_PATTERNS:
        text = re.sub(pattern, " ", text, flags=re.MULTILINE)
    return text


def _body_lines(text):
    """Lines of the report body: headings dropped, the '#' column of tables dropped."""
    out = []
    index_table = False
    in_table = False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            in_table = False
            continue
        if stripped.startswith("|"):
            cells = stripped.strip("|").split("|")
            if not in_table:  # header row
                in_table = True
                index_table = cells[0].strip() == "#"
            elif index_table and not re.fullmatch(r"[\s:|-]+", stripped):
                stripped = "|" + "|".join(cells[1:]) + "|"
            out.append(stripped)
            continue
        in_table = False
        out.append(line)
    return out


def numeric_tokens(report_text, summary):
    """The numeric tokens of the report body that the checker verifies.

    Returns
    -------
    list of str
        Each token as written (sign, decimals, ``%`` or ``k`` suffix kept), in order.
    """
    tokens = []
    for line in _body_lines(report_text):
        line = _strip_identifiers(line, summary)
        tokens.extend(m.group(0) for m in _NUMBER.finditer(line))
    return tokens


def _collect(obj, floats, ints, strings):
    if isinstance(obj, bool) or obj is None:
        return
    if isinstance(obj, int):
        ints.add(obj)
        floats.append(float(obj))
    elif isinstance(obj, float):
        if math.isfinite(obj):
            floats.append(obj)
            if obj.is_integer():
                ints.add(int(obj))
    elif isinstance(obj, str):
        strings.update(m.group(0) for m in _NUMBER.finditer(obj))
    elif isinstance(obj, dict):
        for value in obj.values():
            _collect(value, floats, ints, strings)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            _collect(value, floats, ints, strings)
    else:  # numpy scalars
        try:
            _collect(obj.item(), floats, ints, strings)
        except AttributeError:
            pass


class _Index:
    """Summary values, formatted on demand and cached per (style, decimals)."""

    def __init__(self, summary):
        self.floats, self.ints, self.strings = [], set(), set()
        _collect(summary, self.floats, self.ints, self.strings)
        self._cache = {}

    def formatted(self, style, decimals, scale=1.0):
        key = (style, decimals, scale)
        if key not in self._cache:
            fmt = f"{{:.{decimals}{style}}}"
            self._cache[key] = {fmt.format(v * scale) for v in self.floats}
        return self._cache[key]

    def contains(self, token):
        if token in self.strings:
            return True
        suffix = token[-1] if token[-1] in "%k" else ""
        num = token[:-1] if suffix else token
        if suffix == "k":
            value = float(num) * 1000
            return value.is_integer() and int(value) in self.ints
        scale = 100.0 if suffix == "%" else 1.0
        mantissa, _, exponent = num.lower().partition("e")
        decimals = len(mantissa.partition(".")[2])
        if exponent:
            return num.lower() in self.formatted("e", decimals, scale)
        if "." not in num and not suffix:
            return int(num) in self.ints
        return num in self.formatted("f", decimals, scale)


def numbers_not_in_summary(report_text, summary):
    """Numeric tokens of a report that no summary value accounts for.

    Parameters
    ----------
    report_text : str
        The rendered markdown report.
    summary : dict
        The summary.json content the report was rendered from.

    Returns
    -------
    list of str
        Offending tokens in order of appearance (empty when the report is consistent).

    Notes
    -----
    Skipped: markdown headings, the '#' column of tables, image links and file names, the
    experiment id, the date, ISO timestamps, version strings, model names, and the template's
    fixed identifiers (``Gate-1``, ``MVP-0.1``, ``Fig 1``, ``H1``, ``§DG1``, catalogue labels such as
    ``Ca II 8542.1`` or ``O2 A 吸收带（7594–7700 Å）``). A token with ``d`` decimals matches a summary value ``v`` when
    ``f"{v:.{d}f}"`` equals it; ``"14.9%"`` matches ``f"{v * 100:.1f}"``; an integer must equal an
    integer (or integral float) value exactly; ``"100k"`` means 100000 exactly; a token that appears
    verbatim inside a summary string (a path, a reason) matches too.
    """
    index = _Index(summary)
    return [tok for tok in numeric_tokens(report_text, summary) if not index.contains(tok)]
