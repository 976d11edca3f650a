"""`python -m bot` is the same as the `cflow-bot` command."""

from bot.cli import main

raise SystemExit(main())
