"""Where a warning should point: the first stack frame outside dialpad_nb."""

from __future__ import annotations

import os
import sys
from types import FrameType

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep  # dialpad_nb/


def caller_stacklevel() -> int:
    """``stacklevel`` for ``warnings.warn`` called here-or-below that names the user's line."""
    frame: FrameType | None = sys._getframe(1)
    level = 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    return level
