"""Names written on face regions (digiKam, Lightroom, Picasa/Windows: MWG and Microsoft Photo
regions, read by indexing/sidecars.py into `people_regions`) seed the names of the people the
faces stage found: a found face whose box holds a written region's centre gives its person that
name, when the person has no name yet and no other person has it. A name the user typed is
never replaced."""

from __future__ import annotations

import json
from typing import Any

from imgrag_desktop.types import ImgragError


def seed_names(store: Any, people: Any) -> int:
    """Name unnamed people from the written regions of their photos; returns people named."""
    if store.images is None or "people_regions" not in store.images.schema.names:
        return 0
    rows = store.query("people_regions IS NOT NULL", ["content_hash", "people_regions", "width", "height"]).to_pylist()
    named = 0
    taken = {n.lower() for n in people.names()}
    for r in rows:
        try:
            regions = json.loads(r["people_regions"] or "[]")
        except ValueError:
            continue
        w, h = r.get("width") or 0, r.get("height") or 0
        if not (w and h and r.get("content_hash")):
            continue
        faces = people.faces_in(r["content_hash"])
        for reg in regions:
            name = " ".join(str(reg.get("name") or "").split())
            if not name or name.lower() in taken or reg.get("x") is None or reg.get("y") is None:
                continue
            cx, cy = float(reg["x"]) * w, float(reg["y"]) * h
            for f in faces:
                left, top, right, bottom = f["box"]
                if f.get("person") is None or f.get("name") or not (left <= cx <= right and top <= cy <= bottom):
                    continue
                try:
                    people.name(f["person"], name)
                except ImgragError:
                    continue
                taken.add(name.lower())
                named += 1
                for g in faces:  # this person is named now: the photo's other regions look elsewhere
                    if g.get("person") == f["person"]:
                        g["name"] = name
                break
    return named
