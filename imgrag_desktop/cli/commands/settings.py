"""`imgrag settings`: every setting the window's Settings dialog (and the rest of the app) reads,
listed and changed by name. Values are checked against the setting's type before they are saved;
docs/settings.md says what each one does."""

from __future__ import annotations

import argparse
import json
from typing import Any

from imgrag_desktop.cli.context import Context, common_options
from imgrag_desktop.types import ImgragError


def settings_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="settings_action", metavar="ACTION")

    def action(name: str, text: str) -> argparse.ArgumentParser:
        return common_options(sub.add_parser(name, help=text, description=text))

    action("list", "every setting with its value (the default when never set)")
    action("get", "one setting's value").add_argument("name", metavar="NAME")
    s = action("set", "change a setting (checked against its type, then saved)")
    s.add_argument("name", metavar="NAME")
    s.add_argument("value", metavar="VALUE", help="text for a text setting; JSON for the others: true, 0.3, null")
    action("reset", "put a setting back to its default").add_argument("name", metavar="NAME")


def cmd_settings(ctx: Context) -> int:
    from imgrag_desktop.config import Settings, parse_setting, setting_names

    args = ctx.args
    cfg = ctx.services.cfg
    current = cfg.settings
    action = getattr(args, "settings_action", None) or "list"
    if action == "list":
        data = {name: getattr(current, name) for name in setting_names()}
        ctx.out(data, lambda: "\n".join(f"{k} = {json.dumps(v)}" for k, v in data.items()))
        return 0
    name = args.name
    if name not in setting_names():
        parse_setting(name, "")  # the one "no setting …" message
    previous: Any = getattr(current, name)
    if action == "get":
        ctx.out({"name": name, "value": previous}, json.dumps(previous))
        return 0
    if action == "set":
        value = parse_setting(name, args.value)
    elif action == "reset":
        value = getattr(Settings(), name)
    else:  # pragma: no cover - argparse allows only the actions above
        raise ImgragError(f"unknown settings action {action!r}")
    setattr(current, name, value)
    cfg.save()
    if name == "faces_enabled" and not value:  # privacy: faces off deletes descriptors and names now
        from imgrag_desktop.indexing.faces_stage import forget_faces
        from imgrag_desktop.store import writer

        with writer(ctx.services.store, cfg.lock_file):
            forget_faces(ctx.services.store)
    ctx.out({"name": name, "value": value, "previous": previous},
            f"{name} = {json.dumps(value)} (was {json.dumps(previous)})")
    return 0
