"""The library by place and by time: countries → cities with counts and a cover photo
(`imgrag places`, the window's Places view), and years → months with counts (`imgrag timeline`,
the timeline). Plain queries over the index; nothing is loaded that the answer does not need."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any


def places(store: Any, where: str | None = None) -> list[dict[str, Any]]:
    """One entry per (country, city), most photos first within each country, countries by
    their count: {country, country_code, region, city, count, cover (the newest photo's path)}.
    Photos with GPS but no town within 25 km (at sea) are one entry with an empty city and
    country; photos without GPS are not listed."""
    if store.images is None or "place_status" not in store.images.schema.names:
        return []
    cond = "place_status = 'done'" + (f" AND ({where})" if where else "")
    tbl = store.query(cond, ["path", "city", "region", "country", "country_code", "date", "local_time"])
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for r in tbl.to_pylist():
        key = (r.get("country") or "", r.get("city") or "")
        when = r.get("local_time") if r.get("local_time") is not None else (r.get("date") or 0.0)
        g = groups.setdefault(key, {"country": key[0], "country_code": r.get("country_code") or "",
                                    "region": r.get("region") or "", "city": key[1], "count": 0,
                                    "cover": r["path"], "_t": when})
        g["count"] += 1
        if when > g["_t"]:
            g["cover"], g["_t"] = r["path"], when
    per_country: dict[str, int] = {}
    for g in groups.values():
        per_country[g["country"]] = per_country.get(g["country"], 0) + g["count"]
    out = sorted(groups.values(), key=lambda g: (g["country"] == "", -per_country[g["country"]], g["country"],
                                                 -g["count"], g["city"]))
    for g in out:
        g.pop("_t")
    return out


def timeline(store: Any, where: str | None = None) -> list[dict[str, Any]]:
    """Years, newest first, each {year, count, months: [{month, count}]} by the photos' own local
    time (the file time for screenshots)."""
    if store.images is None:
        return []
    cols = ["date"] + (["local_time"] if "local_time" in store.images.schema.names else [])
    tbl = store.query(where, cols)
    counts: dict[tuple[int, int], int] = {}
    for r in tbl.to_pylist():
        t = r.get("local_time")
        if t is not None:
            d = datetime.fromtimestamp(t, timezone.utc)
        elif r.get("date") is not None:
            d = datetime.fromtimestamp(r["date"])
        else:
            continue
        counts[(d.year, d.month)] = counts.get((d.year, d.month), 0) + 1
    years: dict[int, dict[str, Any]] = {}
    for (y, m), n in sorted(counts.items(), reverse=True):
        entry = years.setdefault(y, {"year": y, "count": 0, "months": []})
        entry["count"] += n
        entry["months"].append({"month": m, "count": n})
    return list(years.values())
