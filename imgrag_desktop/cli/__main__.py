"""`python -m imgrag_desktop.cli`."""

from imgrag_desktop.cli import main

raise SystemExit(main())
