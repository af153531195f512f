"""The window's parts for media and metadata: the filter bar's rating, tag and media, and the
preview's files, video moment and tags rows."""

from __future__ import annotations

from typing import Any

from imgrag_desktop.gui.filters import FilterBar
from imgrag_desktop.gui.preview import PreviewPanel
from imgrag_desktop.gui.workers import ResultItem
from imgrag_desktop.types import Hit


def test_the_filter_bar_filters_by_rating_tag_and_media(qtbot: Any) -> None:
    bar = FilterBar()
    qtbot.addWidget(bar)
    with qtbot.waitSignal(bar.changed, timeout=2000):
        bar.set_filters(rating=4, tag="holiday", media="video")
    f = bar.filters()
    assert (f.rating, f.tag, f.media) == (4, "holiday", "video") and bar.active_count() == 3
    where = f.where() or ""
    assert "rating >= 4" in where and "|holiday|" in where and "'video'" in where
    bar.clear()
    assert bar.filters().where() is None


def test_the_preview_shows_both_files_the_moment_and_the_tags(qtbot: Any) -> None:
    panel = PreviewPanel()
    qtbot.addWidget(panel)
    panel.show()
    pair = Hit("/p/IMG_1.JPG", 0.5, files=["/p/IMG_1.JPG", "/p/IMG_1.CR2"], media="raw", tags=["holiday"], rating=4,
               title="Tram")
    panel.show_item(ResultItem(pair))
    assert panel.facts["files"].text() == "/p/IMG_1.JPG\n/p/IMG_1.CR2" and panel.facts["files"].isVisibleTo(panel)
    assert panel.facts["tags"].text() == "Tram · ★★★★ · holiday"
    assert not panel.facts["moment"].isVisibleTo(panel)
    clip = Hit("/p/trip.mp4", 0.5, media="video", time_s=75.0, duration_s=3723.0)
    panel.show_item(ResultItem(clip))
    assert panel.facts["moment"].text() == "1:15 of 1:02:03" and not panel.facts["files"].isVisibleTo(panel)


def test_the_preview_image_of_a_video_hit_is_the_frame_of_its_moment(qtbot: Any, tmp_path: Any) -> None:
    from imgrag_desktop.gui.thumbnails import ImageLoader
    from tests.support.videos import scene, write_video

    clip = write_video(tmp_path / "two.mp4", [(scene((200, 30, 30)), 2), (scene((30, 30, 200)), 2)])
    loader = ImageLoader(tmp_path / "thumbs", threads=1)
    try:
        with qtbot.waitSignal(loader.imageReady, timeout=10000) as got:
            loader.request_image(str(clip), time_s=3.0)
        path, image = got.args
        colour = image.pixelColor(5, 5)
        assert path == str(clip) and colour.blue() > 150 and colour.red() < 80  # the blue scene, not the red
    finally:
        loader.shutdown()
