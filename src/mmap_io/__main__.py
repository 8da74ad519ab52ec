"""``python -m mmap_io`` runs the ``mmapio`` command line."""

from .cli import main

raise SystemExit(main())
