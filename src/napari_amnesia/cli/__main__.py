"""``python -m napari_amnesia.cli``: the ``amnesia`` command."""

import sys

from . import main

sys.exit(main())
