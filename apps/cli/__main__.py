"""``python -m apps.cli``: the same entry point as the ``greenstack`` console script."""

import sys

from apps.cli.commands import main

sys.exit(main())
