"""The active interception contexts of the calling thread (innermost last).

``fast_init`` and ``initialize`` push a context here while their block runs;
only the thread that entered a block sees it."""

import threading


class _Contexts(threading.local):
    def __init__(self):
        self.contexts = []  # each thread starts with its own empty stack


_local = _Contexts()


def stack():
    return _local.contexts


def active():
    """The innermost active context of this thread, or None."""
    contexts = _local.contexts
    return contexts[-1] if contexts else None
