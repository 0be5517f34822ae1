"""`python -m switchover`: the same command line as `switchover`."""
from switchover.cli import main

raise SystemExit(main())
