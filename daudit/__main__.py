"""`python -m daudit`: the command line (`daudit.app.cli`)."""

import sys

from daudit.app.cli import main

sys.exit(main())
