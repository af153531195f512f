"""What people wrote (indexing/sidecars.py, meta_stage.py): XMP sidecars written here with known
tags, embedded XMP, a sidecar that is not XML, filters and the keyword index."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from PIL import Image

from imgrag_desktop.indexing.sidecars import parse_xmp, read_photo_meta, sidecar_paths, split_tags
from imgrag_desktop.indexing.stages import run_later_stages
from imgrag_desktop.search.filters import Filters

XMP = """<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:xmp="http://ns.adobe.com/xap/1.0/"
  xmlns:lr="http://ns.adobe.com/lightroom/1.0/" xmlns:digiKam="http://www.digikam.org/ns/1.0/"
  xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/" xmlns:stArea="http://ns.adobe.com/xmp/sType/Area#"
  xmp:Rating="{rating}" xmp:Label="Red">
 <dc:subject><rdf:Bag><rdf:li>{tag}</rdf:li><rdf:li>Lisbon</rdf:li></rdf:Bag></dc:subject>
 <dc:title><rdf:Alt><rdf:li xml:lang="x-default">Tram up the hill</rdf:li></rdf:Alt></dc:title>
 <dc:description><rdf:Alt><rdf:li xml:lang="x-default">Grandma's yellow tram in Alfama</rdf:li></rdf:Alt></dc:description>
 <lr:hierarchicalSubject><rdf:Bag><rdf:li>Places|Portugal|Lisbon</rdf:li></rdf:Bag></lr:hierarchicalSubject>
 <digiKam:TagsList><rdf:Seq><rdf:li>People/Family/Zacharias</rdf:li></rdf:Seq></digiKam:TagsList>
 <mwg-rs:Regions rdf:parseType="Resource"><mwg-rs:RegionList><rdf:Bag>
  <rdf:li><rdf:Description mwg-rs:Name="Zacharias Quux" mwg-rs:Type="Face">
   <mwg-rs:Area stArea:x="0.5" stArea:y="0.4" stArea:w="0.2" stArea:h="0.3" stArea:unit="normalized"/>
  </rdf:Description></rdf:li>
 </rdf:Bag></mwg-rs:RegionList></mwg-rs:Regions>
</rdf:Description></rdf:RDF></x:xmpmeta>
<?xpacket end="w"?>"""


def xmp(tag: str = "holiday", rating: int = 4) -> str:
    return XMP.replace("{tag}", tag).replace("{rating}", str(rating))


def photo(path: Path, colour: tuple[int, int, int], **save: Any) -> Path:
    Image.new("RGB", (96, 64), colour).save(path, quality=90, **save)
    return path


def _digest(paths: list[Path]) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


def test_every_field_of_a_sidecar_is_read() -> None:
    meta = parse_xmp(xmp().encode())
    assert {"holiday", "Lisbon", "Places/Portugal/Lisbon", "People/Family/Zacharias"} <= set(meta.tags)
    assert (meta.title, meta.rating, meta.label) == ("Tram up the hill", 4, "Red")
    assert meta.description == "Grandma's yellow tram in Alfama"
    assert meta.people == ["Zacharias Quux"] and meta.regions[0]["w"] == 0.2
    keys = meta.tag_keys()
    assert "Portugal" in keys and "Family" in keys  # the levels of a hierarchical tag match too


def test_sidecar_names_and_a_sidecar_that_is_not_xml(tmp_path: Path) -> None:
    a = photo(tmp_path / "a.jpg", (200, 10, 10))
    (tmp_path / "a.jpg.xmp").write_text(xmp("beach"))
    (tmp_path / "a.xmp").write_text("this is not <xml")
    assert sidecar_paths(str(a)) == [str(tmp_path / "a.jpg.xmp"), str(tmp_path / "a.xmp")]
    meta = read_photo_meta([str(a)])
    assert "beach" in meta.tags and meta.rating == 4
    assert len(meta.problems) == 1 and "not XML" in meta.problems[0] and "a.xmp" in meta.problems[0]
    (tmp_path / "a.jpg.xmp").write_text('<!DOCTYPE x [<!ENTITY e "boom">]><x>&e;</x>')
    meta = read_photo_meta([str(a)])
    assert meta.empty() and len(meta.problems) == 2  # an entity declaration is refused (defusedxml)


def test_embedded_xmp_is_read_and_a_sidecar_wins_for_single_values(tmp_path: Path) -> None:
    p = photo(tmp_path / "e.jpg", (10, 200, 10), xmp=xmp("embedded-tag", rating=2).encode())
    meta = read_photo_meta([str(p)])
    assert "embedded-tag" in meta.tags and meta.rating == 2 and "xmp" in meta.sources
    (tmp_path / "e.xmp").write_text(xmp("sidecar-tag", rating=5))
    meta = read_photo_meta([str(p)])
    assert {"embedded-tag", "sidecar-tag"} <= set(meta.tags) and meta.rating == 5


def test_tags_are_searchable_filterable_and_follow_sidecar_edits(tmp_path: Path, services: Any) -> None:
    d = tmp_path / "lib"
    d.mkdir()
    a = photo(d / "DSC_0001.jpg", (200, 30, 30))
    b = photo(d / "DSC_0002.jpg", (30, 30, 200))
    c = photo(d / "DSC_0003.jpg", (30, 200, 30))
    (d / "DSC_0001.jpg.xmp").write_text(xmp("zanzibar", rating=5))
    (d / "DSC_0002.xmp").write_text(xmp("kilimanjaro", rating=2))
    (d / "DSC_0003.xmp").write_text("\x00\x01 garbage")
    files = sorted(d.iterdir())
    before = _digest(files)
    services.indexer().index_paths([str(d)])
    # read with the photo's first commit: searchable before any later stage
    assert "zanzibar" in split_tags(services.store.rows([str(a)], ["path", "tags"])[str(a)]["tags"])
    out = run_later_stages(services)
    # the stage reads again only the photo whose sidecar could not be read, and says why
    assert out["metadata"]["read"] == 1 and out["metadata"]["with_metadata"] == 0
    assert out["metadata"]["sidecars_skipped"] == 1  # the photo itself is still indexed
    rows = {Path(r["path"]).name: r for r in services.store.query(None, ["path", "tags", "rating", "label", "title",
                                                                          "meta_status"]).to_pylist()}
    assert rows["DSC_0003.jpg"]["meta_status"] == "none"
    assert "zanzibar" in split_tags(rows["DSC_0001.jpg"]["tags"]) and rows["DSC_0001.jpg"]["rating"] == 5
    hits = services.searcher.search("zanzibar", k=3, mode="keyword", min_score="off")
    assert hits and hits[0].path == str(a) and "zanzibar" in hits[0].tags and hits[0].rating == 5
    assert hits[0].to_json()["title"] == "Tram up the hill"

    def paths(f: Filters) -> set[str]:
        return set(services.store.query(f.where(), ["path"]).column("path").to_pylist())

    assert paths(Filters(rating=4)) == {str(a)}
    assert paths(Filters(rating=2)) == {str(a), str(b)}
    assert paths(Filters(tag="Kilimanjaro")) == {str(b)}
    assert paths(Filters(tag="portugal")) == {str(a), str(b)}  # a level of Places|Portugal|Lisbon
    assert paths(Filters(tag="zanzi")) == set()  # a whole tag, not a part of one
    # an edited sidecar is read again by the next run; nothing is re-embedded visually
    (d / "DSC_0002.xmp").write_text(xmp("serengeti", rating=3))
    os.utime(d / "DSC_0002.xmp", ns=(1, 10**18))
    report = services.indexer().index_paths([str(d)])
    assert report.embedded == 0
    run_later_stages(services)
    assert paths(Filters(tag="serengeti")) == {str(b)} and paths(Filters(tag="kilimanjaro")) == set()
    hits = services.searcher.search("serengeti", k=3, mode="keyword", min_score="off")
    assert hits and hits[0].path == str(b)
    # the watcher's path: a sidecar event re-reads the photo it belongs to
    (d / "DSC_0003.xmp").write_text(xmp("okavango"))
    services.indexer().index_files([str(d / "DSC_0003.xmp")])
    run_later_stages(services)
    assert paths(Filters(tag="okavango")) == {str(c)}
    assert _digest([f for f in files if f.name != "DSC_0002.xmp" and f.name != "DSC_0003.xmp"]) == \
        {k: v for k, v in before.items() if k not in ("DSC_0002.xmp", "DSC_0003.xmp")}  # read only


def _with_iptc(path: Path, records: list[tuple[int, bytes]]) -> Path:
    """A JPEG with an IPTC-IIM block (Photoshop APP13), as older tools wrote keywords."""
    import struct

    iim = b"".join(b"\x1c\x02" + bytes([tag]) + struct.pack(">H", len(v)) + v for tag, v in records)
    if len(iim) % 2:
        iim += b"\x00"
    irb = b"8BIM" + struct.pack(">H", 0x0404) + b"\x00\x00" + struct.pack(">I", len(iim)) + iim
    payload = b"Photoshop 3.0\x00" + irb
    data = path.read_bytes()
    path.write_bytes(data[:2] + b"\xff\xed" + struct.pack(">H", len(payload) + 2) + payload + data[2:])
    return path


def test_iptc_keywords_title_and_caption_are_read(tmp_path: Path) -> None:
    p = _with_iptc(photo(tmp_path / "old.jpg", (90, 90, 90)),
                   [(25, b"harbour"), (25, "Zürich".encode()), (5, b"Evening boats"), (120, b"Boats at dusk")])
    meta = read_photo_meta([str(p)])
    assert meta.tags == ["harbour", "Zürich"] and meta.title == "Evening boats"
    assert meta.description == "Boats at dusk" and "iptc" in meta.sources
