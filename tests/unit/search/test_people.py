"""People from faces on generated descriptor sets (real LanceDB side tables, real clustering).

Descriptors are drawn like dlib's: people's centres ~1.0 apart, a person's faces within ~0.35
of each other, so the edge cases (uneven sizes, noise faces, chains of weak links, photos with
two people, incremental arrival, corrections) are exact and repeatable.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from imgrag_desktop.evaluation.people import bcubed
from imgrag_desktop.search.people import ClusterParams, People, carry_over
from imgrag_desktop.store.faces import NO_FACE, FaceTables
from imgrag_desktop.types import ImgragError

DIM = 128
PARAMS = ClusterParams(threshold=0.6, min_faces=2, min_quality=0.3)


def _centres(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.normal(0, 1.0 / np.sqrt(2 * DIM), (n, DIM))


def _face(rng: np.random.Generator, centre: np.ndarray, spread: float = 0.17) -> list[float]:
    return [float(v) for v in centre + rng.normal(0, spread / np.sqrt(DIM), DIM)]


def _row(photo: str, idx: int, desc: list[float] | None, quality: float = 0.9, model: str = "m1",
         box: tuple[int, int, int, int] = (10, 10, 110, 110)) -> dict:
    return {"face_id": f"{photo}:{idx}", "content_hash": photo, "idx": idx, "model": model,
            "left": box[0], "top": box[1], "right": box[2], "bottom": box[3], "quality": quality, "size": 100,
            "descriptor": desc, "by_user": False, "not_face": False}


def _library(rng: np.random.Generator, sizes: list[int]) -> tuple[list[dict], dict[str, str]]:
    centres = _centres(rng, len(sizes))
    rows, truth = [], {}
    for p, n in enumerate(sizes):
        for k in range(n):
            photo = f"p{p}-{k}"
            rows.append(_row(photo, 0, _face(rng, centres[p])))
            truth[f"{photo}:0"] = f"person{p}"
    return rows, truth


def _found(tables: FaceTables) -> dict[str, str | None]:
    people = tables.people_rows()
    out = {}
    for r in tables.face_rows(None, ["face_id", "person"]):
        pid = r["person"]
        while pid and people.get(pid, {}).get("merged_into"):
            pid = people[pid]["merged_into"]
        out[r["face_id"]] = pid
    return out


def test_generated_centres_are_as_far_apart_as_dlibs_people():
    rng = np.random.default_rng(0)
    c = _centres(rng, 50)
    d = np.linalg.norm(c[:, None] - c[None], axis=2)[np.triu_indices(50, 1)]
    assert 0.8 < d.mean() < 1.2 and d.min() > 0.6
    same = np.linalg.norm(np.asarray(_face(rng, c[0])) - np.asarray(_face(rng, c[0])))
    assert 0.15 < same < 0.4


def test_many_people_of_uneven_sizes_are_found_pure_and_complete(tmp_path):
    rng = np.random.default_rng(1)
    sizes = [40, 25, 12, 8, 5, 3, 2, 2, 2] + [1] * 10  # ten people with one photo only
    rows, truth = _library(rng, sizes)
    # noise: faces of nobody in particular, one each
    noise = _centres(rng, 30)
    rows += [_row(f"noise{i}", 0, _face(rng, noise[i])) for i in range(30)]
    tables = FaceTables(tmp_path)
    tables.update_faces(rows)
    stats = People(tables).cluster(PARAMS)
    found = _found(tables)
    score = bcubed(truth, found)
    assert score["mixed_people"] == 0 and score["bcubed_precision"] == 1.0
    assert score["right_person"] >= 0.95
    assert stats["new_people"] == 9  # the people with 2+ photos; single faces and noise wait
    assert all(found[f"noise{i}:0"] is None for i in range(30))


def test_faces_arriving_in_batches_join_their_people_or_wait(tmp_path):
    rng = np.random.default_rng(2)
    rows, truth = _library(rng, [10, 10, 6])
    by_person: dict[str, list[dict]] = {}
    for r in rows:
        by_person.setdefault(truth[r["face_id"]], []).append(r)
    tables = FaceTables(tmp_path)
    people = People(tables)
    first = [by_person["person0"][0], by_person["person0"][1], by_person["person1"][0], by_person["person2"][0]]
    tables.update_faces(first)
    assert people.cluster(PARAMS) == {"joined": 0, "new_people": 1, "waiting": 2}  # one face alone waits
    tables.update_faces([r for r in rows if r not in first])
    stats = people.cluster(PARAMS)
    assert stats["joined"] == 8 and stats["new_people"] == 2 and stats["waiting"] == 0
    score = bcubed(truth, _found(tables))
    assert score["mixed_people"] == 0 and score["right_person"] == 1.0


def test_a_chain_of_weak_links_never_merges_two_people(tmp_path):
    """Faces half-way between two people link each to its neighbour under the threshold, so
    single linkage would join everything; the two people stay two."""
    rng = np.random.default_rng(3)
    a, b = _centres(rng, 2)
    rows = [_row(f"a{i}", 0, _face(rng, a, 0.05)) for i in range(6)]
    rows += [_row(f"b{i}", 0, _face(rng, b, 0.05)) for i in range(6)]
    steps = int(np.ceil(np.linalg.norm(a - b) / 0.3)) + 1
    for k in range(1, steps):
        t = k / steps
        rows.append(_row(f"bridge{k}", 0, [float(v) for v in a * (1 - t) + b * t]))
    tables = FaceTables(tmp_path)
    tables.update_faces(rows)
    People(tables).cluster(PARAMS)
    found = _found(tables)
    pa_, pb = {found[f"a{i}:0"] for i in range(6)}, {found[f"b{i}:0"] for i in range(6)}
    assert len(pa_) == 1 and len(pb) == 1 and pa_ != pb and None not in pa_ | pb
    # and an existing person is never merged into another by later arrivals either
    more = [_row(f"bridge-late{k}", 0, [float(v) for v in a * 0.5 + b * 0.5 + 0.001 * k]) for k in range(3)]
    tables.update_faces(more)
    People(tables).cluster(PARAMS)
    found = _found(tables)
    assert {found[f"a{i}:0"] for i in range(6)} == pa_ and {found[f"b{i}:0"] for i in range(6)} == pb


def test_two_faces_of_one_photo_are_never_one_person(tmp_path):
    rng = np.random.default_rng(4)
    (c,) = _centres(rng, 1)
    rows = [_row("group", 0, _face(rng, c)), _row("group", 1, _face(rng, c)), _row("solo", 0, _face(rng, c))]
    tables = FaceTables(tmp_path)
    tables.update_faces(rows)
    People(tables).cluster(PARAMS)
    found = _found(tables)
    assert found["solo:0"] is not None
    assert Counter(found[f"group:{i}"] for i in range(2))[found["solo:0"]] == 1


def test_poor_faces_form_no_person_and_marker_rows_are_no_faces(tmp_path):
    rng = np.random.default_rng(5)
    (c,) = _centres(rng, 1)
    rows = [_row(f"blur{i}", 0, _face(rng, c), quality=0.1) for i in range(5)]
    rows.append({"face_id": "empty:none", "content_hash": "empty", "idx": NO_FACE, "model": "m1"})
    tables = FaceTables(tmp_path)
    tables.update_faces(rows)
    assert People(tables).cluster(PARAMS)["new_people"] == 0
    assert People(tables).listing() == []


def _two_people(tmp_path, rng):
    rows, truth = _library(rng, [5, 4])
    tables = FaceTables(tmp_path)
    tables.update_faces(rows)
    people = People(tables)
    people.cluster(PARAMS)
    found = _found(tables)
    pa_ = found["p0-0:0"]
    pb = found["p1-0:0"]
    return tables, people, pa_, pb


def test_corrections_name_merge_hide_move_and_they_stick(tmp_path):
    rng = np.random.default_rng(6)
    tables, people, pa_, pb = _two_people(tmp_path, rng)
    listing = people.listing()
    assert [p["count"] for p in listing] == [5, 4] and all(p["name"] == "" for p in listing)
    people.name(pa_, "Alice")
    assert people.resolve("alice") == pa_ and people.names() == ["Alice"]
    with pytest.raises(ImgragError, match="already called"):
        people.name(pb, "ALICE")
    with pytest.raises(ImgragError, match="no person"):
        people.resolve("Zed")
    # take a face out: it leaves, and clustering never puts it back
    people.move_face("p0-1:0")
    people.cluster(PARAMS)
    assert _found(tables)["p0-1:0"] is None and people.listing()[0]["count"] == 4
    # merge B into Alice: one person, Alice's name, B's id still resolves to her
    people.merge("Alice", pb)
    assert people.resolve(pb) == pa_
    assert [(p["name"], p["count"]) for p in people.listing()] == [("Alice", 8)]
    assert len(people.hashes_of("Alice")) == 8
    people.set_flag("Alice", "hidden")
    assert people.listing() == [] and people.names() == []
    assert people.listing(include_hidden=True)[0]["hidden"]
    people.set_flag("Alice", "hidden", False)
    people.not_a_face("p0-2:0")
    assert people.listing()[0]["count"] == 7


def test_not_a_person_keeps_its_lookalikes_out_of_new_people(tmp_path):
    rng = np.random.default_rng(7)
    tables, people, pa_, _pb = _two_people(tmp_path, rng)
    people.set_flag(pa_, "not_person")
    assert all(p["id"] != int(pa_) for p in people.listing())
    centre = np.mean([r["descriptor"] for r in tables.face_rows() if r["content_hash"].startswith("p0-")], axis=0)
    tables.update_faces([_row(f"statue{i}", 0, _face(rng, centre, 0.1)) for i in range(3)])
    stats = people.cluster(PARAMS)
    assert stats["new_people"] == 0 and stats["joined"] == 3


def test_a_new_face_model_maps_faces_back_to_their_person(tmp_path):
    rng = np.random.default_rng(8)
    tables, people, pa_, pb = _two_people(tmp_path, rng)
    people.name(pa_, "Alice")
    people.move_face("p1-0:0")  # a correction that must survive too
    old = tables.faces_of(["p0-0", "p1-0"])
    new = [_row("p0-0", 0, [0.0] * DIM, model="m2", box=(12, 8, 112, 108)),
           _row("p1-0", 0, [0.0] * DIM, model="m2", box=(300, 300, 400, 400))]  # not the same face
    carried = carry_over([r for r in old if r["content_hash"] == "p0-0"], new[:1])
    carry_over([r for r in old if r["content_hash"] == "p1-0"], new[1:])
    assert carried == 1 and new[0]["person"] == pa_ and not new[1].get("person")
    tables.write_faces(new, replace_hashes=["p0-0", "p1-0"])
    assert people.faces_in("p0-0")[0]["name"] == "Alice"
    assert {r["model"] for r in tables.faces_of(["p0-0", "p1-0"])} == {"m2"}


def test_forgetting_drops_every_descriptor_and_name(tmp_path):
    rng = np.random.default_rng(9)
    tables, people, pa_, _ = _two_people(tmp_path, rng)
    people.name(pa_, "Alice")
    tables.drop()
    fresh = FaceTables(tmp_path)
    assert not fresh.exists() and not list(tmp_path.glob("faces.lance")) and not list(tmp_path.glob("people.lance"))
    assert People(fresh).listing() == [] and People(fresh).names() == []


def test_a_person_spread_over_several_grouping_batches_is_one_person(tmp_path, monkeypatch):
    import imgrag_desktop.search.people as people_mod

    monkeypatch.setattr(people_mod, "LINK_BATCH", 7)  # the waiting faces are grouped 7 at a time
    rng = np.random.default_rng(10)
    rows, truth = _library(rng, [9, 6, 4, 2])
    order = rng.permutation(len(rows))
    tables = FaceTables(tmp_path)
    tables.update_faces([rows[i] for i in order])
    People(tables).cluster(PARAMS)
    score = bcubed(truth, _found(tables))
    assert score["mixed_people"] == 0 and score["bcubed_recall"] == 1.0 and len(People(tables).listing()) == 4
