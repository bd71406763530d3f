"""chatd: a self-hostable chat server."""

__version__ = "0.1.0"
