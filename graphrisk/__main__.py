"""`python -m graphrisk` runs the command line."""

from graphrisk.cli.main import main

main()
