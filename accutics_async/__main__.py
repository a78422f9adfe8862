"""``python -m accutics_async``: the ``accutics`` command."""

from .cli import main

raise SystemExit(main())
