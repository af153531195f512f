"""`imgrag people`: the people found in the photos, their photos, and the user's corrections.

People are made by the "faces" stage of `imgrag index` / `imgrag watch`; `imgrag people scan`
runs that stage alone. An ID is a person's number or name (any case)."""

from __future__ import annotations

import argparse
import threading
from typing import Any

from imgrag_desktop.cli.context import Context, common_options, hits_text, printable, stop_on_signals
from imgrag_desktop.types import Hit, ImgragError


def people_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="people_action", metavar="ACTION")

    def action(name: str, text: str) -> argparse.ArgumentParser:
        return common_options(sub.add_parser(name, help=text, description=text))

    action("list", "every person, most photos first: id, name, photos").add_argument(
        "--all", action="store_true", help="hidden people and \"not a person\" groups too")
    s = action("show", "a person's photos")
    s.add_argument("person", metavar="ID", help="a person's id or name")
    s.add_argument("-k", "--limit", type=int, default=0, help="at most this many photos (default all)")
    s = action("name", "name a person (an empty NAME removes the name)")
    s.add_argument("person", metavar="ID")
    s.add_argument("name", metavar="NAME")
    s = action("merge", "merge person B into person A (A keeps its name, else takes B's)")
    s.add_argument("into", metavar="A")
    s.add_argument("other", metavar="B")
    action("hide", "hide a person from the list and from search").add_argument("person", metavar="ID")
    action("unhide", "show a hidden person again").add_argument("person", metavar="ID")
    action("not-a-person", "mark a group as not a person (a statue, a poster): hidden, and its "
                           "look-alikes never form a person").add_argument("person", metavar="ID")
    s = action("move", "take a face out of its person (to nobody, or --to another person)")
    s.add_argument("face", metavar="FACE_ID", help="as `people faces IMAGE` lists them")
    s.add_argument("--to", metavar="ID", help="the person it belongs to")
    action("not-a-face", "a detection that is no face: it leaves its person for good").add_argument(
        "face", metavar="FACE_ID")
    action("faces", "the faces found in one image, with their boxes and people").add_argument(
        "image", metavar="IMAGE")
    action("scan", "find faces in what waits for it and group them into people now (resumable)")
    s = action("eval", "measure faces and people on a labelled folder (labels.json): pair accuracy, "
                       "B-cubed purity and completeness, speed")
    s.add_argument("folder", metavar="DIR")
    s.add_argument("--threshold", type=float, default=None, help="face distance threshold (default: the setting)")


def _people(ctx: Context) -> Any:
    from imgrag_desktop.search.people import people_of

    if not ctx.services.cfg.settings.faces_enabled:
        raise ImgragError("faces are switched off (imgrag settings set faces_enabled true)")
    return people_of(ctx.services.store)


def _write(ctx: Context) -> Any:
    from imgrag_desktop.store import writer

    svc = ctx.services
    return writer(svc.store, svc.cfg.lock_file)


def person_hits(svc: Any, people: Any, ident: str, limit: int = 0) -> list[Hit]:
    hashes = people.hashes_of(ident)
    if not hashes:
        return []
    paths = sorted(p for h, ps in (people._live() or {}).items() if h in hashes for p in ps)
    rows = svc.store.hit_rows(paths)
    hits = [Hit.from_row(rows[p], 1.0, ["person"]) for p in paths if p in rows]
    hits.sort(key=lambda h: -(h.taken_at or h.mtime))
    return hits[:limit] if limit else hits


def cmd_people(ctx: Context) -> int:
    args = ctx.args
    action = getattr(args, "people_action", None) or "list"
    if action == "scan":
        return _scan(ctx)
    if action == "eval":
        return _eval(ctx)
    people = _people(ctx)
    if action == "list":
        data = people.listing(include_hidden=args.all)

        def human() -> str:
            if not data:
                return "no people yet (faces are found by `imgrag index`; a person needs " \
                       f"{ctx.services.cfg.settings.people_min_faces} similar faces)"
            return "\n".join(f"{p['id']:>5}  {p['name'] or '(unnamed)':<24} {p['count']:>5} photos"
                             + ("  [hidden]" if p["hidden"] else "") for p in data)

        ctx.out(data, human)
    elif action == "show":
        hits = person_hits(ctx.services, people, args.person, args.limit)
        ctx.out([h.to_json() for h in hits], lambda: hits_text(hits))
    elif action == "faces":
        import os

        from imgrag_desktop.imaging import content_hash, read_file

        path = os.path.abspath(os.path.expanduser(args.image))
        if not os.path.isfile(path):
            raise ImgragError(f"no such image: {path}")
        faces = people.faces_in(content_hash(read_file(path)))
        ctx.out(faces, lambda: "\n".join(f"{f['face_id']}  box {f['box']}  person {f['person'] or '-'} "
                                         f"{f['name']}" for f in faces) or "no faces found (or not scanned yet)")
    else:
        with _write(ctx):
            if action == "name":
                data = people.name(args.person, args.name)
                text = f"person {data['id']} is now {data['name']!r}" if data["name"] else f"person {data['id']} unnamed"
            elif action == "merge":
                data = people.merge(args.into, args.other)
                text = f"person {data['merged']} merged into {data['id']}"
            elif action in ("hide", "unhide"):
                data = people.set_flag(args.person, "hidden", action == "hide")
                text = f"person {data['id']} {'hidden' if action == 'hide' else 'shown'}"
            elif action == "not-a-person":
                data = people.set_flag(args.person, "not_person", True)
                text = f"person {data['id']} marked as not a person"
            elif action == "move":
                data = people.move_face(args.face, args.to)
                text = f"face {printable(args.face)} moved from {data['from']} to {data['to']}"
            elif action == "not-a-face":
                data = people.not_a_face(args.face)
                text = f"face {printable(args.face)} marked as not a face"
            else:  # pragma: no cover - argparse allows only the actions above
                raise ImgragError(f"unknown people action {action!r}")
        ctx.out(data, text)
    return 0


def _scan(ctx: Context) -> int:
    from imgrag_desktop.indexing.stages import STAGES, run_later_stages

    svc = ctx.services
    cancel = threading.Event()
    with _write(ctx), stop_on_signals(cancel):
        data = run_later_stages(svc, cancel, ctx.progress_bar("faces"), ctx.warn,
                                stages=[s for s in STAGES if s.name == "faces"])
    faces = data.get("faces") or {}
    ctx.out(faces, lambda: f"{faces.get('scanned', 0)} photos scanned, {faces.get('faces', 0)} faces, "
                           f"people: {faces.get('people')}")
    return 0


def _eval(ctx: Context) -> int:
    import dataclasses

    from imgrag_desktop.evaluation.people import evaluate_people
    from imgrag_desktop.models.faces_child import engine_from_settings
    from imgrag_desktop.search.people import ClusterParams

    s = ctx.services.cfg.settings
    params = ClusterParams.from_settings(s)
    if ctx.args.threshold is not None:
        params = dataclasses.replace(params, threshold=ctx.args.threshold)
    data = evaluate_people(ctx.args.folder, engine_from_settings(s), params, max_side=s.faces_max_side)
    ctx.out(data, lambda: "\n".join(f"{k}: {v}" for k, v in data.items()))
    return 0
