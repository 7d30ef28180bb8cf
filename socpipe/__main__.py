"""`python -m socpipe ...` is the `socpipe` command."""

from socpipe.cli import app

app()
