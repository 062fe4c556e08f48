"""``python -m taskguard``: the same as the ``taskguard`` console script."""

from taskguard._cli import main

raise SystemExit(main())
