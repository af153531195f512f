"""The reading pipeline itself (readers of dates, places, people have their own tables)."""

from imgrag_desktop.search.filters import Filters
from imgrag_desktop.search.understand import Chip, Found, understand


def _kind_reader(text, filters, context):
    words = text.split()
    if "screenshot" not in words:
        return None
    words.remove("screenshot")
    chip = Chip("kind", "🖥 Screenshots", "screenshot", {"kind": "screenshot"})
    return Found(" ".join(words), {"kind": "screenshot"}, [chip])


def test_readers_take_their_words_and_set_filters_on_top_of_the_bar():
    r = understand("error  code in the screenshot", Filters(camera="x"), readers=[("kind", _kind_reader)])
    assert r.text == "error code in the" and r.filters.kind == "screenshot" and r.filters.camera == "x"
    assert [c.label for c in r.chips] == ["🖥 Screenshots"] and not r.only_filters
    back = r.without(r.chips[0])
    assert back.filters.kind is None and back.filters.camera == "x" and back.text.endswith("screenshot")
    assert back.chips == []


def test_a_query_that_is_only_a_filter_and_one_with_no_reader():
    assert understand("screenshot", readers=[("kind", _kind_reader)]).only_filters
    plain = understand("beach", readers=[("kind", _kind_reader)])
    assert plain.text == "beach" and plain.chips == [] and plain.filters == Filters()
    assert understand("beach").as_json() == {"text": "beach", "only_filters": False, "filters": {}, "chips": []}
