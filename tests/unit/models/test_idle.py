"""Idle unload: CLIP leaves memory after the idle time without use, never while it is used,
and the next encode loads it again with the same vectors."""

import threading
import time

import numpy as np

from imgrag_desktop.models.clip import ClipEncoder
from imgrag_desktop.models.idle import IdleUnloader


def test_an_idle_model_is_unloaded_and_reloads_on_the_next_use(tiny_ckpt):
    enc = ClipEncoder("imgrag-tiny", checkpoint=str(tiny_ckpt), device="cpu")
    before = enc.encode_texts(["a red car"])
    unloader = IdleUnloader(lambda: [enc, None], idle_s=0.3)
    assert unloader.sweep() == 0 and enc.loaded  # just used
    time.sleep(0.4)
    assert unloader.sweep() == 1 and not enc.loaded
    again = enc.encode_texts(["a red car"])  # loaded on demand
    assert enc.loaded and np.allclose(before, again, atol=1e-6)
    assert unloader.sweep() == 0 and enc.loaded


def test_the_background_unloader_never_breaks_encodes_in_flight(tiny_ckpt):
    enc = ClipEncoder("imgrag-tiny", checkpoint=str(tiny_ckpt), device="cpu")
    enc.load()
    unloader = IdleUnloader(lambda: [enc], idle_s=0.05, check_s=0.01).start()
    errors: list[BaseException] = []

    def use() -> None:
        try:
            for i in range(30):
                assert enc.encode_texts([f"query {i}"]).shape[0] == 1
                time.sleep(0.02 if i % 3 else 0.1)  # some pauses long enough to unload
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    t = threading.Thread(target=use)
    t.start()
    t.join(120)
    unloader.stop()
    assert not errors and unloader.unloaded >= 1


def test_zero_means_never(tiny_ckpt):
    enc = ClipEncoder("imgrag-tiny", checkpoint=str(tiny_ckpt), device="cpu").load()
    u = IdleUnloader(lambda: [enc], idle_s=0).start()
    assert u._thread is None and enc.loaded
    u.stop()
