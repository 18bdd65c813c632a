"""The active interception contexts of the calling thread (innermost last).

``fast_init`` and ``initialize`` push a context here while their block runs;
only the thread that entered a block sees it."""

import threading

_local = threading.local()


def stack():
    contexts = getattr(_local, "contexts", None)
    if contexts is None:
        contexts = _local.contexts = []
    return contexts


def active():
    """The innermost active context of this thread, or None."""
    contexts = getattr(_local, "contexts", None)
    return contexts[-1] if contexts else None
