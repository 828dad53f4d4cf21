"""codeinterview: the backend of a real-time collaborative coding-interview platform."""

__version__ = "0.1.0"
