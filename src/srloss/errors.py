"""Errors in what the user supplied, reported as one line instead of a traceback.

A ``UserError`` says what is wrong with a config value, a dataset on disk, an output folder or
the machine (a requested GPU that is absent), naming the file, key or value and what was
expected. Running the same job again cannot fix it, so the ``srloss`` commands exit with
``EXIT_USER_ERROR`` (3), distinct from a crash (1) and from a preemption (128 + signal), and
print just the message.
"""

from __future__ import annotations

import functools
import sys
from typing import Callable

EXIT_USER_ERROR = 3


class UserError(Exception):
    """A problem with the user's input or environment; the message says what and how to fix it."""


class ConfigError(UserError, ValueError):
    """A config value is invalid; the message names the key."""


def one_line_errors(main: Callable[..., int]) -> Callable[..., int]:
    """Wrap a command's ``main``: a ``UserError`` becomes one line on stderr and exit code 3."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs) -> int:
        try:
            return main(*args, **kwargs)
        except UserError as e:
            print(f"srloss: error: {e}", file=sys.stderr, flush=True)
            return EXIT_USER_ERROR

    return wrapper
