"""``python -m embrm.cli``: the ``embrm`` command."""

import sys

from embrm.cli import main

sys.exit(main())
