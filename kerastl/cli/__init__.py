"""The command line, `kerastl`: a thin layer over the packages below it (`commands`)."""

from kerastl.cli.commands import main

__all__ = ["main"]
