"""library.browse: the rows the window's grid lists before anything is searched."""

import numpy as np

from imgrag_desktop.library import browse
from imgrag_desktop.store import Store, folder_filter


def _row(path, vec, date, **kw):
    row = {"path": path, "folder": path.rsplit("/", 1)[0], "name": path.rsplit("/", 1)[-1], "size": 10,
           "mtime_ns": 2_000_000_000, "content_hash": "h" + path, "width": 4, "height": 3, "kind": "photo",
           "clip_model": "m", "visual": vec, "ocr_status": "skipped", "caption_status": "skipped",
           "search_text": "", "date": date}
    row.update(kw)
    return row


def test_browse_lists_newest_first_under_the_filter_with_thumbnail_hashes(tmp_path):
    s = Store(tmp_path / "db")
    v = np.eye(8, dtype=np.float32)
    s.upsert([_row("/f/a.jpg", v[0], 1.0), _row("/f/b.jpg", v[1], 3.0), _row("/g/c.jpg", v[2], 2.0)])
    rows = browse(s, None, 10)
    assert [h.path for h, _ in rows] == ["/f/b.jpg", "/g/c.jpg", "/f/a.jpg"]
    hit, chash = rows[0]
    assert chash == "h/f/b.jpg" and hit.score == 0.0 and (hit.width, hit.height, hit.size) == (4, 3, 10)
    assert hit.mtime == 2.0
    assert [h.path for h, _ in browse(s, folder_filter("/f"), 10)] == ["/f/b.jpg", "/f/a.jpg"]
    assert [h.path for h, _ in browse(s, None, 1)] == ["/f/b.jpg"]
