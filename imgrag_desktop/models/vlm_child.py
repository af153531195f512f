"""The child side of `vlm_probe.probe_in_subprocess`: load the model and make one token.

Run as `python -m imgrag_desktop.models.vlm_child probe MODEL MMPROJ HANDLER N_CTX`. A model
file that crashes llama.cpp (a native abort cannot be caught) takes only this process down; the
parent reads the one JSON line printed here.
"""

from __future__ import annotations

import json
import sys

from imgrag_desktop.models.llama_native import default_threads
from imgrag_desktop.types import ImgragError


def _probe_main(argv: list[str]) -> int:
    model_path, mmproj, handler, n_ctx = argv[0], argv[1], argv[2], int(argv[3])
    from imgrag_desktop.models.vlm import LocalVLM, VlmSpec, image_data_uri

    try:
        from PIL import Image

        spec = VlmSpec(model_path=model_path, mmproj_path=mmproj, handler=handler, n_ctx=n_ctx, verify=False,
                       n_threads=default_threads())
        vlm = LocalVLM(spec, idle_unload_s=0)
        vlm.load()
        if vlm.has_vision:
            img = Image.new("RGB", (64, 64), (90, 120, 200))
            messages = [{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": image_data_uri(img, 64)}},
                {"type": "text", "text": "Hi"}]}]
        else:
            messages = [{"role": "user", "content": "Hi"}]
        vlm.generate(messages, max_tokens=1)
        vlm.unload()
    except ImgragError as exc:
        print(json.dumps({"error": str(exc)}))
        return 2
    except Exception as exc:  # noqa: BLE001 - reported to the parent as text
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
        return 3
    print(json.dumps({"ok": True}))
    return 0


if __name__ == "__main__":  # pragma: no cover - exercised through probe_in_subprocess
    if len(sys.argv) >= 6 and sys.argv[1] == "probe":
        sys.exit(_probe_main(sys.argv[2:]))
    print("usage: python -m imgrag_desktop.models.vlm_child probe MODEL MMPROJ HANDLER N_CTX", file=sys.stderr)
    sys.exit(64)
