import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
sys.path.insert(0, str(Path(__file__).parent))

import os
import tempfile

# Caches (zarr copies, sufficient statistics) go to a throw-away folder, never the repo's
# data_cache/; subprocess runs of the CLI inherit it.
os.environ.setdefault("DAUDIT_CACHE_DIR", tempfile.mkdtemp(prefix="daudit-test-cache-"))
