"""``python -m meditrack_tui`` runs the CLI."""

import sys

from .cli import main

sys.exit(main())
