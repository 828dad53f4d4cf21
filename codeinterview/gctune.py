"""Garbage-collector settings for a server that holds many long-lived connections.

CPython's full collection walks every tracked object and stops the whole event loop while it
does; with a thousand live connections that is a few hundred thousand objects and a pause of
hundreds of milliseconds for every session at once. Reference counting frees nearly all of
this server's garbage, so full passes can be rare. Objects that exist once the app is built
(modules, classes, the app itself) live as long as the process: freezing them takes them out of
every later pass.
"""

from __future__ import annotations

import gc

# Young collections stay at CPython's default size (700), so each pause stays short; a full
# pass is considered after 100 middle-generation passes instead of 10 (and, as always, only
# once the objects that survived since the last full pass are a quarter of those before).
THRESHOLDS = (700, 10, 100)


def tune_for_serving() -> None:
    """Call once, after the app is built and before connections arrive."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
