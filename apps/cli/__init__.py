"""The ``greenstack`` command line (console script ``apps.cli:main``).

``commands`` holds the parser and the core commands; ``surfaces`` adds ``serve``, ``dashboard``
and ``keys``. Only argparse and the standard library load at import.
"""

from apps.cli.commands import main

__all__ = ["main"]
