"""``python -m exact``: the ``nonident`` command line (:mod:`exact.console`)."""

import sys

from exact.console import main

sys.exit(main())
