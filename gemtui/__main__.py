"""Lets `python -m gemtui` behave exactly like the `gemtui` command."""

from gemtui.cli import main

raise SystemExit(main())
