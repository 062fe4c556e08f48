"""``python -m dispatch.emulator``: run the Cloud Tasks emulator until SIGINT or SIGTERM."""

import sys

from dispatch.emulator._cli import main

if __name__ == "__main__":
    sys.exit(main())
