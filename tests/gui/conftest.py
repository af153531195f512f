"""Fixtures for the window tests: real COCO photos copied into temp dirs, real test-profile
data dirs (tiny CLIP with fixed random weights, real LanceDB), offscreen Qt."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import shutil  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Callable  # noqa: E402

import pytest  # noqa: E402

from tests.conftest import COCO, coco_images  # noqa: E402


@pytest.fixture(scope="session")
def coco_jpegs() -> list[Path]:
    imgs = coco_images()
    if len(imgs) < 80:
        pytest.fail(f"the COCO sample images are not available in {COCO}")
    return imgs


def copy_images(images: list[Path], dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for src in images:
        shutil.copy2(src, dest / src.name)
    return dest


@pytest.fixture(scope="session")
def gui_photos(tmp_path_factory: pytest.TempPathFactory, coco_jpegs: list[Path]) -> Path:
    """20 real photos, copied (the shared data is read-only and never indexed in place here)."""
    return copy_images(coco_jpegs[:20], tmp_path_factory.mktemp("photos") / "holiday")


@pytest.fixture(scope="session")
def indexed_dir(tmp_path_factory: pytest.TempPathFactory, gui_photos: Path) -> Path:
    """A test-profile data dir with gui_photos indexed through the engine (as `imgrag index` does).

    Windows opened on it must not write to it (no rescan at start), so tests can share it.
    """
    return index_into_data_dir(gui_photos, tmp_path_factory.mktemp("indexed-data"), expect=20)


def index_folder(photos: Path, data: Path) -> Any:
    """Index `photos` into a new test-profile data dir, as `imgrag index` does (writer lock
    held), with the window's start-up rescan off so windows opened on it never write to it.
    Returns the indexing report."""
    from imgrag_desktop.config import AppConfig
    from imgrag_desktop.services import Services
    from imgrag_desktop.store import writer

    cfg = AppConfig.load(data, "test")
    cfg.settings.folders = [str(photos)]
    cfg.settings.extra["gui"] = {"rescan_on_start": False}
    cfg.save()
    svc = Services(cfg)
    with writer(svc.store, cfg.lock_file):
        return svc.indexer().index_paths([str(photos)])


def index_into_data_dir(photos: Path, data: Path, expect: int) -> Path:
    """index_folder, checked: `expect` files added, none failed."""
    report = index_folder(photos, data)
    assert report.added == expect and report.failed == 0
    return data


class Recorder:
    """Stands in for the desktop's 'open with the default viewer' (a test must not launch one)."""

    def __init__(self) -> None:
        self.calls: list[Any] = []

    def __call__(self, arg: Any) -> bool:
        self.calls.append(arg)
        return True


@pytest.fixture
def make_window(qtbot: Any) -> Callable[..., Any]:
    from imgrag_desktop.config import AppConfig
    from imgrag_desktop.gui.window import MainWindow

    made: list[Any] = []
    saved: dict[Path, bytes | None] = {}

    def make(data_dir: Path, wait_ready: bool = True, profile: str = "test", expect_error: bool = False,
             **kwargs: Any) -> Any:
        cfg = AppConfig.load(data_dir, profile)
        settings = Path(cfg.settings_file)
        if settings not in saved:
            saved[settings] = settings.read_bytes() if settings.exists() else None
        kwargs.setdefault("open_url", Recorder())
        kwargs.setdefault("reveal", Recorder())
        w = MainWindow(cfg, **kwargs)
        qtbot.addWidget(w)
        made.append(w)
        if wait_ready:
            with qtbot.waitSignal(w.engineReady, timeout=120_000) as blocker:
                w.show()
                qtbot.waitExposed(w)
            assert ("error" in blocker.args[0]) == expect_error, blocker.args[0]
        else:
            w.show()
            qtbot.waitExposed(w)
        return w

    yield make
    for w in made:
        w.close()
        assert w.shutdown(), "workers did not stop"
    # A window saves its layout (docks, filter bar, splitters) into the data dir's settings when
    # it closes: put each data dir's settings back, so a shared fixture's dir is the same for
    # every test whatever the windows before it did.
    for path, data in saved.items():
        if data is None:
            path.unlink(missing_ok=True)
        else:
            path.write_bytes(data)


def wait_results(qtbot: Any, window: Any, kind: str | None = None, timeout: int = 60_000) -> dict[str, Any]:
    """Wait for the next results of a kind (text, similar, browse) to be shown."""
    got: dict[str, Any] = {}

    def check(info: dict[str, Any]) -> bool:
        if kind is None or info.get("kind") == kind:
            got.update(info)
            return True
        return False

    qtbot.waitSignal(window.resultsShown, timeout=timeout, check_params_cb=check).wait()
    return got
