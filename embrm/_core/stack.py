"""Where a warning should point: the first frame of the caller's code, outside embrm."""

from __future__ import annotations

import os
import sys
from pathlib import Path

#: The folder of the embrm package whose frames a warning skips.
PACKAGE_DIR = str(Path(__file__).resolve().parent.parent) + os.sep


def external_stacklevel() -> int:
    """The ``stacklevel`` of ``warnings.warn`` that names the first caller outside embrm.

    Called from the function that warns: level 1 is that function, and each frame of embrm's
    own code above it adds one, so the warning names the user's line however deep inside
    embrm (or however wrapped) the warning arose.

    Example
    -------
    >>> external_stacklevel() >= 1
    True
    """
    level, frame = 2, sys._getframe(2)  # 1: the function that warns; 2: its caller
    while frame is not None and frame.f_code.co_filename.startswith(PACKAGE_DIR):
        level += 1
        frame = frame.f_back
    return level
