"""``python -m notebridge_worker``: the same as the ``notebridge-worker`` command."""

from notebridge_worker.cli import main

raise SystemExit(main())
