"""The download core against a real HTTP hub on 127.0.0.1 (tests/support/hub_server.py)."""

from __future__ import annotations

import errno
import os
import subprocess
import threading
from pathlib import Path

import pytest

from imgrag_desktop.models import downloads
from imgrag_desktop.models.downloads import DownloadCancelled, DownloadFailed, HubDownloader, RemoteFile
from tests.support.hub_server import LoopbackHub, sha256_of

REPO_ID = "imgrag/tiny-clip"


@pytest.fixture
def hub(tiny_ckpt, tiny_pair):
    with LoopbackHub() as h:
        h.add(REPO_ID, tiny_ckpt, "open_clip_model.bin")
        for p in tiny_pair:
            h.add("imgrag/tiny-vlm", p)
        yield h


def _ckpt(tiny_ckpt: Path) -> RemoteFile:
    return RemoteFile(REPO_ID, "open_clip_model.bin")


def test_info_reads_the_hubs_checksum_size_and_commit(hub, tiny_ckpt):
    info = HubDownloader(endpoint=hub.endpoint).info(_ckpt(tiny_ckpt))
    assert info.etag == sha256_of(tiny_ckpt) and info.size == tiny_ckpt.stat().st_size
    assert info.commit == "0123456789abcdef0123456789abcdef01234567"


def test_download_into_the_hub_cache_with_progress(hub, tiny_ckpt, tmp_path):
    events: list[downloads.DownloadEvent] = []
    hub.state.delay_s = 0.003  # ~20 MB/s: a few progress reports (they come at most every 0.1 s)
    dl = HubDownloader(endpoint=hub.endpoint, chunk_size=1 << 16)
    path = dl.fetch_cached(_ckpt(tiny_ckpt), tmp_path / "hub", progress=events.append)
    assert path.read_bytes() == tiny_ckpt.read_bytes()
    # huggingface_hub finds it where open_clip will look.
    from huggingface_hub import try_to_load_from_cache

    assert try_to_load_from_cache(REPO_ID, "open_clip_model.bin", cache_dir=tmp_path / "hub") == str(path)
    phases = [e.phase for e in events]
    assert phases[-2:] == ["verify", "done"] and phases.count("download") >= 2
    assert events[-1].done == events[-1].total == tiny_ckpt.stat().st_size
    assert any(e.rate_bps > 0 for e in events)
    assert not list((tmp_path / "hub").rglob("*.part"))


def test_a_small_file_is_checked_by_its_git_object_id(hub, tiny_pair, tmp_path):
    small = tmp_path / "small.json"
    small.write_text('{"embed_dim": 128}')
    hub.add("imgrag/tiny-vlm", small)
    info = HubDownloader(endpoint=hub.endpoint).info(RemoteFile("imgrag/tiny-vlm", "small.json"))
    assert downloads.checksum_kind(info.etag) == "git-sha1"
    out = HubDownloader(endpoint=hub.endpoint).fetch_to(RemoteFile("imgrag/tiny-vlm", "small.json"), tmp_path / "o.json")
    assert out.read_text() == small.read_text()


def test_a_dropped_connection_resumes_with_a_range_request(hub, tiny_ckpt, tmp_path):
    hub.state.drop_after, hub.state.drops = 3 << 20, 1
    path = HubDownloader(endpoint=hub.endpoint).fetch_to(_ckpt(tiny_ckpt), tmp_path / "m.bin")
    assert path.read_bytes() == tiny_ckpt.read_bytes()
    ranges = [r for _, _, r in hub.gets()]
    assert ranges[0] == "" and ranges[1].startswith("bytes=") and int(ranges[1][6:-1]) >= 3 << 20


def test_pause_keeps_the_partial_file_never_loaded_and_the_next_start_resumes(hub, tiny_ckpt, tmp_path):
    hub.state.delay_s = 0.002
    cancel = threading.Event()
    target = tmp_path / "m.bin"

    def progress(e):
        if e.done >= 2 << 20:
            cancel.set()

    dl = HubDownloader(endpoint=hub.endpoint, chunk_size=1 << 16)
    with pytest.raises(DownloadCancelled, match="resumes"):
        dl.fetch_to(_ckpt(tiny_ckpt), target, progress=progress, cancel=cancel)
    kept = downloads.partial_bytes(target)
    assert 2 << 20 <= kept < tiny_ckpt.stat().st_size and not target.exists()
    hub.state.delay_s = 0.0
    dl.fetch_to(_ckpt(tiny_ckpt), target)
    assert target.read_bytes() == tiny_ckpt.read_bytes()
    assert hub.gets()[-1][2] == f"bytes={kept}-"
    assert not downloads.partial_path(target).exists()


def test_cancel_removes_the_partial_file(hub, tiny_ckpt, tmp_path):
    hub.state.delay_s = 0.002
    cancel = threading.Event()
    target = tmp_path / "m.bin"
    with pytest.raises(DownloadCancelled, match="removed"):
        HubDownloader(endpoint=hub.endpoint, chunk_size=1 << 16).fetch_to(
            _ckpt(tiny_ckpt), target, progress=lambda e: e.done > 1 << 20 and cancel.set(), cancel=cancel,
            keep_partial=False)
    assert list(tmp_path.iterdir()) == []


def test_resume_after_the_process_was_killed(hub, tiny_ckpt, tmp_path):
    """A download killed half-way (the app quit, the machine slept) resumes from its partial file."""
    hub.state.delay_s = 0.01
    target = tmp_path / "m.bin"
    script = (
        "import sys; from pathlib import Path; from imgrag_desktop.models.downloads import HubDownloader, RemoteFile\n"
        "def p(e):\n    print(e.done, flush=True)\n"
        f"HubDownloader(endpoint={hub.endpoint!r}, chunk_size=1 << 16).fetch_to("
        f"RemoteFile({REPO_ID!r}, 'open_clip_model.bin'), Path({str(target)!r}), progress=p)\n")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    proc = subprocess.Popen([os.sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    for line in proc.stdout:
        if int(line) >= 1 << 20:
            break
    proc.kill()
    proc.wait(timeout=30)
    proc.stdout.close()
    kept = downloads.partial_bytes(target)
    assert kept >= 1 << 20 and not target.exists()
    hub.state.delay_s = 0.0
    HubDownloader(endpoint=hub.endpoint).fetch_to(_ckpt(tiny_ckpt), target)
    assert target.read_bytes() == tiny_ckpt.read_bytes()
    assert hub.gets()[-1][2] == f"bytes={kept}-"


def test_a_checksum_mismatch_is_refused_and_nothing_is_installed(hub, tiny_ckpt, tmp_path):
    hub.state.lie_checksum = True
    with pytest.raises(DownloadFailed, match="does not match the hub's checksum") as err:
        HubDownloader(endpoint=hub.endpoint).fetch_cached(_ckpt(tiny_ckpt), tmp_path / "hub")
    assert "\n" not in str(err.value)
    assert not [p for p in (tmp_path / "hub").rglob("*") if p.is_file() and not p.name.endswith(".json")]


def test_a_truncated_partial_file_from_another_version_is_not_appended_to(hub, tiny_ckpt, tmp_path):
    target = tmp_path / "m.bin"
    part = downloads.partial_path(target)
    part.write_bytes(b"x" * 5000)
    part.with_name(part.name + ".json").write_text('{"etag": "old", "size": 5000}')
    HubDownloader(endpoint=hub.endpoint).fetch_to(_ckpt(tiny_ckpt), target)
    assert target.read_bytes() == tiny_ckpt.read_bytes()


@pytest.mark.parametrize("case", ["gone", "404", "offline"])
def test_failures_are_one_sentence(hub, tiny_ckpt, tmp_path, monkeypatch, case):
    endpoint = hub.endpoint
    f = _ckpt(tiny_ckpt)
    if case == "gone":
        hub.stop()
        hub.stop = lambda: None  # the fixture's stop
        expected = "offline"
    elif case == "404":
        f = RemoteFile(REPO_ID, "absent.bin")
        expected = "404"
    else:
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        expected = "HF_HUB_OFFLINE"
    with pytest.raises(DownloadFailed, match=expected) as err:
        HubDownloader(endpoint=endpoint, timeout_s=3).fetch_to(f, tmp_path / "m.bin")
    assert "\n" not in str(err.value) and "Traceback" not in str(err.value)
    assert not (tmp_path / "m.bin").exists()


def test_the_server_going_away_mid_download_keeps_the_partial_file(hub, tiny_ckpt, tmp_path):
    hub.state.drop_after, hub.state.drops, hub.state.delay_s = 2 << 20, 1, 0.01
    dl = HubDownloader(endpoint=hub.endpoint, retries=1, timeout_s=3, chunk_size=1 << 16)
    target = tmp_path / "m.bin"

    def progress(e):
        if e.done >= 1 << 20 and hub.thread.is_alive():
            hub.stop()
            hub.stop = lambda: None

    with pytest.raises(DownloadFailed, match="kept; the next download resumes") as err:
        dl.fetch_to(_ckpt(tiny_ckpt), target, progress=progress)
    assert "\n" not in str(err.value)
    assert downloads.partial_bytes(target) >= 1 << 20 and not target.exists()


def test_explain_names_tls_and_proxy_failures():
    f = RemoteFile("org/repo", "m.bin")
    import ssl

    class ProxyError(Exception):
        pass

    tls = ConnectionError("handshake")
    tls.__cause__ = ssl.SSLCertVerificationError("certificate verify failed: self-signed certificate")
    assert "TLS certificate" in downloads.explain(tls, f, "https://hub.example")
    assert "proxy" in downloads.explain(ProxyError("407 Proxy Authentication Required"), f, "https://hub.example")
    full = OSError(errno.ENOSPC, "No space left on device")
    assert downloads.explain(full, f, "https://hub.example", where=Path("/data")).startswith("the disk is full")


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MiB tmpfs (the tests run as root on this machine)."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)], capture_output=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.decode().strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_not_enough_space_is_refused_before_the_first_byte(hub, tiny_ckpt, small_disk):
    with pytest.raises(DownloadFailed, match="not enough disk space") as err:
        HubDownloader(endpoint=hub.endpoint).fetch_to(_ckpt(tiny_ckpt), small_disk / "m.bin")
    assert "\n" not in str(err.value) and not hub.gets()
    assert not list(small_disk.glob("*.part"))


def test_a_disk_that_fills_during_the_download_gives_a_clear_message_and_keeps_the_index(hub, tmp_path, small_disk):
    from imgrag_desktop.store import Store

    big = tmp_path / "m.bin"
    big.write_bytes(os.urandom(3 << 20))
    hub.add(REPO_ID, big, "big.bin")
    # An index on the same disk, written before the download.
    import numpy as np

    store = Store(small_disk / "db")
    store.upsert([{"path": "/p/a.jpg", "folder": "/p", "size": 1, "mtime": 1.0, "content_hash": "h",
                   "visual": np.ones(8, np.float32)}])
    before = store.count()
    filler = small_disk / "other-program.bin"
    hub.state.delay_s = 0.003

    def progress(e):
        if e.done and not filler.exists():  # another program fills the disk meanwhile
            with filler.open("wb") as fh:
                try:
                    fh.write(b"\0" * (4 << 20))
                except OSError:
                    pass

    with pytest.raises(DownloadFailed, match="the disk is full") as err:
        HubDownloader(endpoint=hub.endpoint, headroom_bytes=0, chunk_size=1 << 16).fetch_to(
            RemoteFile(REPO_ID, "big.bin"), small_disk / "models" / "big.bin", progress=progress)
    assert "\n" not in str(err.value)
    assert not (small_disk / "models" / "big.bin").exists()
    filler.unlink()
    assert Store(small_disk / "db").count() == before


def test_a_read_only_data_dir_is_one_sentence(hub, tiny_ckpt, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,ro", "tmpfs", str(ro)], capture_output=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs here: {proc.stderr.decode().strip()}")
    try:
        with pytest.raises(DownloadFailed, match="read-only") as err:
            HubDownloader(endpoint=hub.endpoint).fetch_to(_ckpt(tiny_ckpt), ro / "models" / "m.bin")
        assert "\n" not in str(err.value)
    finally:
        subprocess.run(["umount", "-l", str(ro)], check=False)
