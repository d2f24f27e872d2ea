"""The run-folder helpers of `daudit` (lock, staging folder, swap-in, log, versions) in one place.

They are shared with ``run``; this module only picks them up where they live (`daudit.outputs`,
or `daudit.pipeline` in older trees) so that the deleak modules import them from one name.
"""

from __future__ import annotations

try:
    from daudit.outputs import (OutputLock, _split_facts, _versions, check_output_dir, setup_log,
                                staging_dir, swap_in)
except ImportError:  # helpers not yet moved out of daudit.pipeline
    from daudit.pipeline import _OutputLock as OutputLock  # noqa: F401
    from daudit.pipeline import _setup_log as setup_log  # noqa: F401
    from daudit.pipeline import _split_facts, _versions, check_output_dir  # noqa: F401
    from daudit.pipeline import _staging_dir as staging_dir  # noqa: F401
    from daudit.pipeline import _swap_in as swap_in  # noqa: F401

__all__ = ["OutputLock", "check_output_dir", "setup_log", "staging_dir", "swap_in", "_versions", "_split_facts"]
