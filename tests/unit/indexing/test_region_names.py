"""Face regions people named in digiKam or Lightroom (MWG regions in XMP sidecars) name the
people the faces stage found (indexing/region_names.py), on real photos; a name the user typed
stays."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from imgrag_desktop.indexing.stages import STAGES, run_later_stages
from imgrag_desktop.search.people import people_of
from tests.support.data import faces_dir

PHOTOS = ["img1.jpg", "img2.jpg", "img4.jpg", "img13.jpg", "img14.jpg"]
REGION = """<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/"
  xmlns:stArea="http://ns.adobe.com/xmp/sType/Area#"><mwg-rs:Regions rdf:parseType="Resource"><mwg-rs:RegionList>
<rdf:Bag>{items}</rdf:Bag></mwg-rs:RegionList></mwg-rs:Regions></rdf:Description></rdf:RDF></x:xmpmeta>"""
ITEM = """<rdf:li><rdf:Description mwg-rs:Name="{name}" mwg-rs:Type="Face"><mwg-rs:Area stArea:x="{x}" stArea:y="{y}"
 stArea:w="0.1" stArea:h="0.1" stArea:unit="normalized"/></rdf:Description></rdf:li>"""


def _stages(services: Any) -> dict[str, Any]:
    return run_later_stages(services, stages=[s for s in STAGES if s.name in ("metadata", "faces")])


def _region_on_face(services: Any, path: Path, name: str, decoy: str) -> None:
    row = services.store.rows([str(path)], ["path", "content_hash", "width", "height"])[str(path)]
    face = people_of(services.store).faces_in(row["content_hash"])[0]
    left, top, right, bottom = face["box"]
    x, y = (left + right) / 2 / row["width"], (top + bottom) / 2 / row["height"]
    items = ITEM.format(name=name, x=x, y=y) + ITEM.format(name=decoy, x=0.01, y=0.01)  # no face in the corner
    path.with_suffix(".xmp").write_text(REGION.format(items=items))


def test_written_region_names_name_the_found_people(tmp_path: Path, services: Any) -> None:
    d = tmp_path / "photos"
    d.mkdir()
    for n in PHOTOS:
        shutil.copy2(faces_dir() / n, d / n)
    services.cfg.settings.ocr_enabled = False
    services.indexer().index_paths([str(d)])
    out = _stages(services)
    assert out["faces"]["named_from_metadata"] == 0
    listing = people_of(services.store).listing()
    assert len(listing) >= 2 and all(not p["name"] for p in listing)
    _region_on_face(services, d / "img1.jpg", "Ada Quux", "Nobody Here")
    b = next(p for p in listing if any(Path(c).name in ("img13.jpg", "img14.jpg")
                                       for c in [p["cover"]["path"]]))
    people_of(services.store).name(b["id"], "Bob")  # the user's own name
    _region_on_face(services, d / "img13.jpg", "Robert", "Nobody Either")
    services.indexer().index_paths([str(d)])  # the new sidecars are seen
    out = _stages(services)
    assert out["faces"]["named_from_metadata"] == 1
    names = {p["name"]: p["count"] for p in people_of(services.store).listing()}
    assert names.get("Ada Quux", 0) >= 2 and "Bob" in names  # Ada's other photos follow; Bob stays Bob
    assert "Robert" not in names and "Nobody Here" not in names
