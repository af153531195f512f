"""The memory benchmarks load CLIP from a weights file, as a user's run does."""

from imgrag_desktop.bench.memory import random_weights_file
from imgrag_desktop.models.clip import ClipEncoder


def test_random_weights_are_written_once_and_load_through_the_file_path(tmp_path):
    path = random_weights_file(tmp_path, "imgrag-tiny")
    stamp = (tmp_path / "random-weights-imgrag-tiny.pt").stat().st_mtime_ns
    assert random_weights_file(tmp_path, "imgrag-tiny") == path
    assert (tmp_path / "random-weights-imgrag-tiny.pt").stat().st_mtime_ns == stamp
    enc = ClipEncoder("imgrag-tiny", checkpoint=path, device="cpu", runtime="torch").load()
    assert enc.model_id.startswith("imgrag-tiny/ckpt-") and enc.dim == 128
