"""What people already wrote about their photos: XMP sidecars and embedded XMP/IPTC.

digiKam, Lightroom, darktable and phones write keywords (flat and hierarchical), a title, a
description, a rating, a colour label and named face regions, either into the file or into a
sidecar next to it (`photo.jpg.xmp` as darktable and digiKam name them, `photo.xmp` as
Lightroom does). This module only ever reads them (files are opened read-only and never
written). XMP is untrusted XML: it is parsed with defusedxml, and a sidecar that is not XML is
skipped with a reason while the photo's own metadata (and the photo) are still indexed.

A sidecar wins over what is embedded for single values (the tools write the sidecar last);
keywords and people are the union of both.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from typing import Any, Iterable

SIDECAR_SUFFIXES = (".xmp", ".XMP", ".Xmp")
EMBEDDED_SCAN_BYTES = 8 << 20  # XMP sits in the first segments of JPEG/TIFF/DNG/HEIC/PNG files
MAX_SIDECAR_BYTES = 16 << 20

NS = {
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "dc": "http://purl.org/dc/elements/1.1/",
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "lr": "http://ns.adobe.com/lightroom/1.0/",
    "digiKam": "http://www.digikam.org/ns/1.0/",
    "mwg-rs": "http://www.metadataworkinggroup.com/schemas/regions/",
    "stArea": "http://ns.adobe.com/xmp/sType/Area#",
    "MPReg": "http://ns.microsoft.com/photo/1.2/t/Region#",
    "MPRI": "http://ns.microsoft.com/photo/1.2/t/RegionInfo#",
    "photoshop": "http://ns.adobe.com/photoshop/1.0/",
    "GCamera": "http://ns.google.com/photos/1.0/camera/",
    "Camera": "http://ns.google.com/photos/1.0/camera/",
    "Container": "http://ns.google.com/photos/1.0/container/",
    "Item": "http://ns.google.com/photos/1.0/container/item/",
}
_XMP_PACKET = re.compile(rb"<x:xmpmeta[\s>].*?</x:xmpmeta>", re.S)


@dataclass
class PhotoMeta:
    """The metadata people wrote, merged from every source of one photo."""

    tags: list[str] = field(default_factory=list)  # as written: flat keywords and hierarchical paths (a/b/c)
    title: str = ""
    description: str = ""
    rating: int | None = None  # -1 (rejected) .. 5
    label: str = ""  # colour label (xmp:Label: Red, Green …)
    regions: list[dict[str, Any]] = field(default_factory=list)  # {name, type, x, y, w, h} (centre, fractions)
    motion_photo: bool = False  # Google/Samsung Motion Photo (an MP4 inside the still)
    motion_offset: int | None = None  # bytes from the end of the file where the video starts
    sources: list[str] = field(default_factory=list)  # "sidecar:PATH", "xmp", "iptc"
    problems: list[str] = field(default_factory=list)  # sidecars skipped, with the reason

    @property
    def people(self) -> list[str]:
        return list(dict.fromkeys(r["name"] for r in self.regions if r.get("name")))

    def empty(self) -> bool:
        return not (self.tags or self.title or self.description or self.rating is not None or self.label
                    or self.regions)

    def tag_keys(self) -> list[str]:
        """Every name a tag filter matches: each keyword, each hierarchical path and each of its levels."""
        keys: list[str] = []
        for tag in self.tags:
            keys.append(tag)
            if "/" in tag:
                keys.extend(part for part in tag.split("/") if part)
        return list(dict.fromkeys(k.strip() for k in keys if k.strip()))

    def words(self) -> str:
        """What joins the keyword index and the textual vector."""
        parts = [self.title, self.description, " ".join(self.tag_keys()), " ".join(self.people)]
        return "\n".join(p for p in parts if p)

    def columns(self) -> dict[str, Any]:
        keys = self.tag_keys()
        return {
            "tags": ("|" + "|".join(k.replace("|", "/") for k in keys) + "|") if keys else None,
            "title": self.title or None,
            "description": self.description or None,
            "rating": self.rating,
            "label": self.label or None,
            "people_regions": json.dumps(self.regions, ensure_ascii=False) if self.regions else None,
            "meta_words": self.words() or None,
        }


def split_tags(value: str | None) -> list[str]:
    """A `tags` column back into its names."""
    return [t for t in (value or "").split("|") if t]


def sidecar_paths(path: str, known: "set[str] | None" = None) -> list[str]:
    """The sidecars of a file that exist: `photo.jpg.xmp` (darktable, digiKam), `photo.xmp` (Lightroom).
    `known`: the sidecars a scan saw (no stat per candidate)."""
    stem, _ = os.path.splitext(path)
    out = []
    for base in (path, stem):
        for suffix in SIDECAR_SUFFIXES:
            cand = base + suffix
            if (cand in known if known is not None else os.path.isfile(cand)) and cand not in out:
                out.append(cand)
                break
    return out


def is_sidecar_name(path: str) -> bool:
    return path.lower().endswith(".xmp")


def row_columns(path: str, data: bytes) -> dict[str, Any]:
    """The metadata columns of a new row, from the bytes the indexer read (and its sidecars):
    tags are searchable with the row's first commit. A sidecar that cannot be read leaves
    `meta_status` null, so the metadata stage reads it again and says why."""
    meta = read_photo_meta([path], {path: data})
    cols = meta.columns()
    if meta.problems:
        return {}
    cols["meta_status"] = "none" if meta.empty() else "done"
    cols["meta_sig"] = signature(sidecar_paths(path))
    return cols


def signature(paths: Iterable[str]) -> str:
    """Names, sizes and mtimes of a photo's sidecars: a change of any re-reads the photo's metadata."""
    parts = []
    for p in sorted(set(paths)):
        try:
            st = os.stat(p)
        except OSError:
            continue
        parts.append(f"{os.path.basename(p)}:{st.st_size}:{st.st_mtime_ns}")
    return ";".join(parts)


# --- reading -------------------------------------------------------------------------------
def read_photo_meta(files: Iterable[str], data: "dict[str, bytes] | None" = None) -> PhotoMeta:
    """The merged metadata of a photo whose files are `files` (a RAW+JPEG pair has two);
    `data`: files already read (the indexer's bytes), not read again."""
    meta = PhotoMeta()
    files = list(dict.fromkeys(files))
    for f in files:
        _merge(meta, _read_embedded(f, (data or {}).get(f)), override=False)
    for f in files:
        for side in sidecar_paths(f):
            try:
                got = parse_xmp(_read_limited(side, MAX_SIDECAR_BYTES))
            except (OSError, ValueError) as exc:
                meta.problems.append(f"{side}: sidecar skipped ({exc})")
                continue
            got.sources = [f"sidecar:{side}"]
            _merge(meta, got, override=True)
    return meta


def _read_limited(path: str, limit: int) -> bytes:
    with open(path, "rb") as fh:  # read only
        return fh.read(limit)


def _read_embedded(path: str, data: bytes | None = None) -> PhotoMeta:
    meta = PhotoMeta()
    try:
        head = data[:EMBEDDED_SCAN_BYTES] if data is not None else _read_limited(path, EMBEDDED_SCAN_BYTES)
    except OSError:
        return meta
    m = _XMP_PACKET.search(head)
    if m:
        try:
            _merge(meta, parse_xmp(m.group(0)), override=True)
            meta.sources.append("xmp")
        except ValueError as exc:
            meta.problems.append(f"{path}: embedded XMP skipped ({exc})")
    if head[:2] == b"\xff\xd8" or head[:4] in (b"II*\x00", b"MM\x00*"):
        iptc = _read_iptc(path)
        if not iptc.empty():
            _merge(meta, iptc, override=False)
            meta.sources.append("iptc")
    return meta


def _merge(into: PhotoMeta, new: PhotoMeta, override: bool) -> None:
    into.tags = list(dict.fromkeys([*into.tags, *new.tags]))
    for name in ("title", "description", "label"):
        if getattr(new, name) and (override or not getattr(into, name)):
            setattr(into, name, getattr(new, name))
    if new.rating is not None and (override or into.rating is None):
        into.rating = new.rating
    seen = {r.get("name") for r in into.regions}
    into.regions.extend(r for r in new.regions if r.get("name") not in seen)
    into.motion_photo = into.motion_photo or new.motion_photo
    into.motion_offset = into.motion_offset or new.motion_offset
    into.sources.extend(new.sources)
    into.problems.extend(new.problems)


def parse_xmp(data: bytes) -> PhotoMeta:
    """One XMP packet or sidecar. ValueError (with the reason) when it is not XML."""
    from xml.etree.ElementTree import ParseError

    import defusedxml.ElementTree as SafeET
    from defusedxml import DefusedXmlException

    text = data.strip()
    if not text:
        raise ValueError("empty file")
    try:
        root = SafeET.fromstring(text)
    except ParseError as exc:
        raise ValueError(f"not XML: {exc}") from exc
    except DefusedXmlException as exc:
        raise ValueError(f"refused XML construct: {type(exc).__name__}") from exc
    meta = PhotoMeta()
    meta.tags = _clean([*_values(root, "dc", "subject"),
                        *(v.replace("|", "/") for v in _values(root, "lr", "hierarchicalSubject")),
                        *_values(root, "digiKam", "TagsList")])
    meta.title = _first(_values(root, "dc", "title"))
    meta.description = _first(_values(root, "dc", "description")) or _first(_values(root, "photoshop", "Headline"))
    rating = _first(_values(root, "xmp", "Rating"))
    try:
        meta.rating = max(-1, min(5, int(round(float(rating))))) if rating else None
    except ValueError:
        meta.rating = None
    meta.label = _first(_values(root, "xmp", "Label"))
    meta.regions = _regions(root)
    motion = _first(_values(root, "GCamera", "MotionPhoto")) or _first(_values(root, "GCamera", "MicroVideo"))
    meta.motion_photo = motion == "1"
    offset = _first(_values(root, "GCamera", "MicroVideoOffset"))
    if offset.isdigit():
        meta.motion_offset = int(offset)
    for el in root.iter():
        if el.get(f"{{{NS['Item']}}}Semantic") == "MotionPhoto":
            meta.motion_photo = True
            length = el.get(f"{{{NS['Item']}}}Length", "")
            if length.isdigit() and int(length) > 0:
                meta.motion_offset = int(length)
    return meta


def _clean(values: Iterable[str]) -> list[str]:
    out = []
    for v in values:
        v = " ".join(v.split()).strip("/ ")
        if v:
            out.append(v)
    return list(dict.fromkeys(out))


def _first(values: list[str]) -> str:
    return next((v.strip() for v in values if v and v.strip()), "")


def _values(root: Any, prefix: str, name: str) -> list[str]:
    """Every value of a property, written as an attribute or as an element (plain, Bag, Seq or Alt)."""
    tag = f"{{{NS[prefix]}}}{name}"
    out: list[str] = []
    for el in root.iter():
        attr = el.get(tag)
        if attr is not None:
            out.append(attr)
    for el in root.iter(tag):
        items = list(el.iter(f"{{{NS['rdf']}}}li"))
        if items:
            out.extend((li.text or "") for li in items)
        elif el.text and el.text.strip():
            out.append(el.text)
    return out


def _get(el: Any, prefix: str, name: str) -> str:
    tag = f"{{{NS[prefix]}}}{name}"
    value = el.get(tag)
    if value is None:
        child = el.find(tag)
        value = child.text if child is not None else None
    return (value or "").strip()


def _regions(root: Any) -> list[dict[str, Any]]:
    """Named regions: MWG (digiKam, Lightroom, phones) and Microsoft Photo (Windows, Picasa)."""
    out: list[dict[str, Any]] = []
    li_tag = f"{{{NS['rdf']}}}li"
    for lst in root.iter(f"{{{NS['mwg-rs']}}}RegionList"):
        for li in lst.iter(li_tag):
            desc = li.find(f"{{{NS['rdf']}}}Description")
            node = desc if desc is not None else li
            name = _get(node, "mwg-rs", "Name")
            if not name:
                continue
            region: dict[str, Any] = {"name": name, "type": _get(node, "mwg-rs", "Type") or "Face"}
            area = node.find(f"{{{NS['mwg-rs']}}}Area")
            area = area if area is not None else node
            for key in ("x", "y", "w", "h"):
                raw = area.get(f"{{{NS['stArea']}}}{key}")
                try:
                    region[key] = float(raw) if raw is not None else None
                except ValueError:
                    region[key] = None
            out.append(region)
    for li in root.iter(li_tag):
        desc = li.find(f"{{{NS['rdf']}}}Description")
        node = desc if desc is not None else li
        name = _get(node, "MPReg", "PersonDisplayName")
        if name and name not in {r["name"] for r in out}:
            region = {"name": name, "type": "Face"}
            rect = _get(node, "MPReg", "Rectangle")  # "x, y, w, h" from the top-left, fractions
            try:
                x, y, w, h = (float(v) for v in rect.split(","))
                region.update(x=x + w / 2, y=y + h / 2, w=w, h=h)
            except ValueError:
                pass
            out.append(region)
    return out


def _read_iptc(path: str) -> PhotoMeta:
    """IPTC-IIM keywords (2:25), object name (2:05) and caption (2:120), as old tools wrote them."""
    meta = PhotoMeta()
    try:
        import warnings

        from PIL import Image, IptcImagePlugin

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as img:
                info = IptcImagePlugin.getiptcinfo(img) or {}
    except Exception:
        return meta

    def texts(key: tuple[int, int]) -> list[str]:
        raw = info.get(key)
        items = raw if isinstance(raw, list) else [raw] if raw else []
        out = []
        for b in items:
            if isinstance(b, bytes):
                try:
                    out.append(b.decode("utf-8"))
                except UnicodeDecodeError:
                    out.append(b.decode("latin-1"))
        return out

    meta.tags = _clean(texts((2, 25)))
    meta.title = _first(texts((2, 5)))
    meta.description = _first(texts((2, 120)))
    return meta
