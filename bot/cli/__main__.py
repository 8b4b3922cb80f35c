"""``python -m bot.cli``: the same command line as ``wolaiban``."""

import sys

from bot.cli.main import main

sys.exit(main())
