"""Load-benchmark harness for codeinterview and peer Yjs servers. Entry point: `python -m bench`."""
