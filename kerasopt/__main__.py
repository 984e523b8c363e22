"""``python -m kerasopt ...``: the ``kerasopt`` console script (`kerasopt.cli.main`)."""

import sys

from kerasopt.cli import main

sys.exit(main())
