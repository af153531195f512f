"""export-userdata / import-userdata carry the people table (names, merges) to a new data dir
and merge it into an existing one without deleting anything."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa


def _people(db_dir: Path, rows: list[dict]) -> None:
    from imgrag_desktop.store.faces import PEOPLE_SCHEMA
    from imgrag_desktop.store.sidetables import SideTable

    t = SideTable(db_dir, "people", "person_id")
    t.ensure(PEOPLE_SCHEMA)
    t.upsert(pa.Table.from_pylist(rows, schema=PEOPLE_SCHEMA))


def _names(db_dir: Path) -> dict[str, str]:
    from imgrag_desktop.store.sidetables import SideTable

    return {r["person_id"]: r["name"] for r in SideTable(db_dir, "people", "person_id").query().to_pylist()}


def test_people_names_survive_export_and_import(tmp_path: Path) -> None:
    from imgrag_desktop.config import AppConfig
    from imgrag_desktop.services import Services
    from imgrag_desktop.upkeep import export_userdata, import_userdata

    old = Services(AppConfig.load(tmp_path / "old", "test"))
    old.cfg.settings.folders = ["/photos"]
    old.cfg.save()
    _people(old.cfg.db_dir, [{"person_id": "p1", "name": "Alice", "hidden": False, "merged_into": None},
                             {"person_id": "p2", "name": "Bob", "hidden": True, "merged_into": None}])
    dump = tmp_path / "userdata.json"
    out = export_userdata(old, dump)
    assert out["tables"] == {"people": 2} and json.loads(dump.read_text())["tables"]["people"][0]["name"] == "Alice"
    new = Services(AppConfig.load(tmp_path / "new", "test"))
    _people(new.cfg.db_dir, [{"person_id": "p1", "name": "", "hidden": False, "merged_into": None},
                             {"person_id": "p3", "name": "Carol", "hidden": False, "merged_into": None}])
    res = import_userdata(new, dump)
    assert res["tables"] == {"people": 2}
    assert _names(new.cfg.db_dir) == {"p1": "Alice", "p2": "Bob", "p3": "Carol"}
    assert "/photos" in AppConfig.load(tmp_path / "new", "test").settings.folders
