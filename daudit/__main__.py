import sys

from daudit.cli import main

sys.exit(main())
