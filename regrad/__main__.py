"""``python -m regrad COMMAND ...``: the applications' command line (``regrad.apps``)."""
import sys

from regrad.apps.main import main

sys.exit(main())
