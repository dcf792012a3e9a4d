"""``python -m dialpad_nb.cli``: the same as the ``dialpad-nb`` command."""

import sys

from . import main

sys.exit(main())
