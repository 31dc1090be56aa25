"""Entry point of `python -m bnviz`: see bnviz.cli."""

from bnviz.cli import main

raise SystemExit(main())
