import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
sys.path.insert(0, str(Path(__file__).parent))

import os
import tempfile

# Caches (zarr copies, sufficient statistics) go to a throw-away folder, never the repo's
# data_cache/; subprocess runs of the CLI inherit it. The folder this session made is removed
# when the session ends (a few hundred MB per session otherwise stay in /tmp).
_OWN_CACHE = None
if "DAUDIT_CACHE_DIR" not in os.environ:
    _OWN_CACHE = os.environ["DAUDIT_CACHE_DIR"] = tempfile.mkdtemp(prefix="daudit-test-cache-")


def pytest_sessionfinish(session, exitstatus):
    if _OWN_CACHE is not None:
        import shutil

        shutil.rmtree(_OWN_CACHE, ignore_errors=True)


# ---------------------------------------------------------------- planted audit runs shared by test modules
import dataclasses  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@dataclasses.dataclass
class PlantedRun:
    """One real audit run on a planted dataset, plus what the checks saw (for direct computations).

    test_pred : {(noise_level, model): test predictions (n,)} as the pipeline computed them;
    y : {split: labels}; root : the folder with the data, the spec and ``out/``.
    """

    summary: dict
    out: object
    root: object
    test_pred: dict
    y: dict


def run_planted(root, maker, *, mask=None):
    """Write a planted set (`planted.write_planted`) under ``root`` and audit it in-process."""
    from unittest import mock

    from planted import write_planted

    import daudit.pipeline.run as pipeline
    from daudit.core.spec import load_spec

    seen = {}
    real = pipeline.run_sanity_checks

    def spy(facts, *handed):
        seen["pred"] = {k: np.array(v) for k, v in facts.predictions["test"].items()}
        seen["y"] = {k: np.array(s.y) for k, s in facts.splits.items()}
        return real(facts, *handed)

    spec = write_planted(root, maker, mask=mask)
    with mock.patch.object(pipeline, "run_sanity_checks", spy):
        summary = pipeline.run_audit(load_spec(spec), output_dir=root / "out", echo=lambda *a: None)
    return PlantedRun(summary, root / "out", root, seen["pred"], seen["y"])


@pytest.fixture(scope="session")
def pixel_run(tmp_path_factory):
    """The planted 40-pixel leak (16 pixels of the O2 A band and 24 others): `planted.pixel_leak`."""
    from planted import pixel_leak

    return run_planted(tmp_path_factory.mktemp("pixel"), pixel_leak)


@pytest.fixture(scope="session")
def scale_run(tmp_path_factory):
    """A leak carried by the overall error scale only, with a file mask that leaks too."""
    from planted import label_mask, scale_leak

    return run_planted(tmp_path_factory.mktemp("scale"), scale_leak, mask=label_mask)


@pytest.fixture(scope="session")
def null_run(tmp_path_factory):
    """The planted 40-pixel leak with its labels permuted (no leak left), and a random mask."""
    from planted import permuted_pixel_leak, random_mask

    return run_planted(tmp_path_factory.mktemp("null"), permuted_pixel_leak, mask=random_mask)
