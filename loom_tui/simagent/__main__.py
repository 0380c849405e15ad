import sys

from loom_tui.simagent import main

sys.exit(main())
