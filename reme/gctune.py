"""Garbage collection in a server process: fewer, shorter pauses inside chat turns.

After start-up a Daphne process holds a few hundred thousand long-lived objects (Django, the sentence model's
Python side, quantulum3's and the name tables). CPython's full collection walks them all, inside whatever turn
allocated the object that triggered it. Once the process is warm they are moved to the permanent generation
(`gc.freeze()`: never scanned again, never freed), and the young generation's threshold is raised so that a turn's
short-lived objects (query rows, model instances, JSON) are collected less often.
"""

import gc
import threading

YOUNG_THRESHOLD = 20_000  # allocations between young collections (CPython's default: 700)


def gc_tune(after: threading.Thread | None = None) -> threading.Thread:
    """Raise the young generation's threshold now; freeze what exists once `after` (the warm-up) has finished."""
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)

    def freeze() -> None:
        if after is not None:
            after.join()
        gc.collect()  # start-up's garbage is freed, not frozen
        gc.freeze()

    thread = threading.Thread(target=freeze, name="gc-freeze", daemon=True)
    thread.start()
    return thread
