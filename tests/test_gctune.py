"""A server process's garbage collector: the young threshold raised at once, start-up objects frozen once warm."""

import gc
import threading

from reme.gctune import YOUNG_THRESHOLD, gc_tune


def test_start_up_objects_are_frozen_only_once_the_warm_up_has_finished():
    threshold, frozen = gc.get_threshold(), gc.get_freeze_count()
    warm = threading.Event()
    warm_up = threading.Thread(target=warm.wait, daemon=True)
    warm_up.start()
    try:
        freezer = gc_tune(after=warm_up)
        assert gc.get_threshold()[0] == YOUNG_THRESHOLD
        freezer.join(timeout=0.2)
        assert freezer.is_alive() and gc.get_freeze_count() == frozen  # still warming up: nothing frozen yet
        warm.set()
        freezer.join(timeout=10)
        assert not freezer.is_alive() and gc.get_freeze_count() > frozen + 10_000
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
