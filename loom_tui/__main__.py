"""`python -m loom_tui` is the same as the `loom` command."""

import sys

from loom_tui.cli import main

sys.exit(main())
