"""``python -m srloss``: the command line (``srloss.cli``) run by a given interpreter, as the workflow's
rules run it, so no ``srloss`` on PATH is needed."""

import sys

from srloss.cli import main

sys.exit(main())
