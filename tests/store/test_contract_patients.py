"""Contract: PatientRepo queries (criteria, NameSearch, sorts, paging, counts, alerts)."""

from __future__ import annotations

from datetime import datetime

import pytest

from meditrack_tui.store.queries import PATIENT_SORTS, NameSearch, PatientQuery


def patient(mrn, first, last, **extra):
    doc = {"mrn": mrn, "first_name": first.title(), "last_name": last.title(),
           "first_key": first, "last_key": last, "full_key": f"{first} {last}",
           "archived": False, "version": 1}
    doc.update(extra)
    return doc


@pytest.fixture
def clinic(store):
    rows = [
        patient("MRN-0001", "grace", "whitaker", sex="F", dob="1980-05-01",
                phone_digits="5550001234", primary_doctor_id="d1", primary_doctor_name="Dr A",
                conditions_lc=["asthma", "diabetes"], updated_at=datetime(2026, 1, 1)),
        patient("MRN-0002", "john", "white", sex="M", dob="1975-02-10",
                phone_digits="5550004321", primary_doctor_id="d2", primary_doctor_name="Dr B",
                conditions_lc=["hypertension"], updated_at=datetime(2026, 1, 3)),
        patient("MRN-0003", "whit", "adams", sex="M", dob="2001-12-31",
                phone_digits="4441239999", primary_doctor_id="d1", primary_doctor_name="Dr A",
                conditions_lc=[], updated_at=datetime(2026, 1, 2)),
        patient("MRN-0010", "mary", "smith", sex="F", dob=None, phone_digits="",
                primary_doctor_id=None, primary_doctor_name=None,
                conditions_lc=["diabetes"], updated_at=datetime(2026, 1, 5)),
        patient("MRN-0011", "ann", "smith", sex="F", dob="1990-07-07",
                phone_digits="3331110000", primary_doctor_id="d2", primary_doctor_name="Dr B",
                conditions_lc=["asthma"], updated_at=datetime(2026, 1, 4), archived=True),
        patient("MRN-0100", "ann", "lee", sex="F", dob="1990-07-07",
                phone_digits="2220001234", primary_doctor_id="d1", primary_doctor_name="Dr A",
                conditions_lc=["asthma"], updated_at=datetime(2026, 1, 6),
                vitals_alert=True, vitals_alert_at=datetime(2026, 3, 1, 9, 0)),
        patient("MRN-0101", "bob", "lee", sex="M", dob="1960-01-01",
                phone_digits="2220005555", primary_doctor_id="d2", primary_doctor_name="Dr B",
                conditions_lc=[], updated_at=datetime(2026, 1, 7),
                vitals_alert=True, vitals_alert_at=datetime(2026, 3, 2, 9, 0)),
        patient("MRN-0102", "cy", "lee", sex="M", dob="1961-01-01", phone_digits="2229990000",
                updated_at=datetime(2026, 1, 8), archived=True,
                vitals_alert=True, vitals_alert_at=datetime(2026, 3, 3, 9, 0)),
    ]
    ids = {}
    for row in rows:
        ids[row["mrn"]] = store.patients.add(row)["id"]
    return ids


def mrns(found):
    return [d["mrn"] for d in found.items]


def find(store, **kw):
    return store.patients.find(PatientQuery(**kw))


def test_by_mrn_and_counts(store, clinic):
    assert store.patients.by_mrn("MRN-0002")["id"] == clinic["MRN-0002"]
    assert store.patients.by_mrn("MRN-9999") is None
    assert store.patients.count() == 8
    assert store.patients.count(archived=None) == 8
    assert store.patients.count(archived=False) == 6
    assert store.patients.count(archived=True) == 2


def test_default_query_lists_unarchived_by_name(store, clinic):
    found = find(store)
    assert mrns(found) == ["MRN-0003", "MRN-0100", "MRN-0101", "MRN-0010", "MRN-0001",
                           "MRN-0002"]
    assert found.total == 6


def test_archived_both_and_only(store, clinic):
    assert find(store, archived=True).total == 2
    assert set(mrns(find(store, archived=True))) == {"MRN-0011", "MRN-0102"}
    assert find(store, archived=None).total == 8


def test_only_id(store, clinic):
    assert mrns(find(store, only_id=clinic["MRN-0002"])) == ["MRN-0002"]
    assert find(store, only_id=clinic["MRN-0011"]).total == 0  # archived by default


def test_one_word_search_is_a_prefix_of_family_or_given_name(store, clinic):
    found = find(store, search=NameSearch("whit"))
    assert mrns(found) == ["MRN-0003", "MRN-0001", "MRN-0002"]
    assert found.total == 3
    assert mrns(find(store, search=NameSearch("an"))) == ["MRN-0100"]
    assert mrns(find(store, search=NameSearch("an"), archived=None)) == ["MRN-0100", "MRN-0011"]
    assert find(store, search=NameSearch("zzz")).total == 0


def test_a_record_matching_several_alternatives_is_counted_once(store, clinic):
    store.patients.add(patient("MRN-0200", "lee", "lee", phone_digits="2221000222"))
    store.patients.add(patient("MRN-0201", "leo", "leeds", phone_digits="2229",
                               mrn_note="matches family and given name prefixes"))
    found = find(store, search=NameSearch("lee"))
    assert found.total == 4 == len(found.items)  # ann, bob lee; lee lee; leo leeds
    assert mrns(found) == ["MRN-0100", "MRN-0101", "MRN-0200", "MRN-0201"]
    # prefix and suffix of one phone number: once
    both = find(store, search=NameSearch("222", phone="222"))
    assert both.total == len(both.items) == 4
    for size in (1, 2, 3):
        pages = [find(store, search=NameSearch("lee"), skip=at, limit=size)
                 for at in range(0, 4, size)]
        assert [m for page in pages for m in mrns(page)] == mrns(found)
        assert {page.total for page in pages} == {4}


def test_pair_search(store, clinic):
    # "family given" as prefixes of each
    assert mrns(find(store, search=NameSearch("lee a", pair=("lee", "a")))) == ["MRN-0100"]
    # or the full name "given family" starting with the text
    assert mrns(find(store, search=NameSearch("grace wh", pair=("grace", "wh")))) == [
        "MRN-0001"]
    assert find(store, search=NameSearch("lee z", pair=("lee", "z"))).total == 0


def test_mrn_search(store, clinic):
    assert mrns(find(store, search=NameSearch("mrn-0002", mrn="MRN-0002"))) == ["MRN-0002"]
    assert mrns(find(store, search=NameSearch("mrn-001", mrn_prefix="MRN-001"))) == [
        "MRN-0010"]
    assert mrns(find(store, search=NameSearch("mrn-01", mrn_prefix="MRN-01"))) == [
        "MRN-0100", "MRN-0101"]


def test_phone_search_prefix_or_suffix(store, clinic):
    found = find(store, search=NameSearch("1234", phone="1234"))
    assert mrns(found) == ["MRN-0100", "MRN-0001"]  # both end with 1234
    assert mrns(find(store, search=NameSearch("444", phone="444"))) == ["MRN-0003"]
    assert mrns(find(store, search=NameSearch("222", phone="222"))) == ["MRN-0100", "MRN-0101"]
    assert mrns(find(store, search=NameSearch("0000", phone="0000"))) == []  # 0011 archived
    assert mrns(find(store, search=NameSearch("0000", phone="0000"), archived=None)) == [
        "MRN-0102", "MRN-0011"]


def test_filters(store, clinic):
    assert set(mrns(find(store, sex="F"))) == {"MRN-0001", "MRN-0010", "MRN-0100"}
    assert set(mrns(find(store, dob_max="1975-02-10"))) == {"MRN-0002", "MRN-0101"}
    assert set(mrns(find(store, dob_min_excl="1990-07-07"))) == {"MRN-0003"}
    assert set(mrns(find(store, dob_min_excl="1975-02-10", dob_max="1990-07-07"))) == {
        "MRN-0001", "MRN-0100"}
    assert set(mrns(find(store, primary_doctor_id="d1"))) == {"MRN-0001", "MRN-0003",
                                                              "MRN-0100"}
    assert set(mrns(find(store, vitals_alert=True))) == {"MRN-0100", "MRN-0101"}


def test_condition_filter_follows_updates_and_deletes(store, clinic):
    assert set(mrns(find(store, condition="asthma"))) == {"MRN-0001", "MRN-0100"}
    assert set(mrns(find(store, condition="asthma", archived=None))) == {
        "MRN-0001", "MRN-0011", "MRN-0100"}
    store.patients.update(clinic["MRN-0001"], {"conditions_lc": ["copd"]})
    assert set(mrns(find(store, condition="asthma"))) == {"MRN-0100"}
    assert mrns(find(store, condition="copd")) == ["MRN-0001"]
    store.patients.delete(clinic["MRN-0100"])
    assert find(store, condition="asthma").total == 0


def test_criteria_combine(store, clinic):
    found = find(store, search=NameSearch("lee"), sex="M", archived=None)
    assert mrns(found) == ["MRN-0101", "MRN-0102"]
    assert find(store, search=NameSearch("whit"), primary_doctor_id="d1",
                condition="asthma").total == 1


def expected_order(docs, sort, descending):
    def key(d):
        return tuple((d.get(f) is not None, d.get(f) or "") for f in PATIENT_SORTS[sort])
    ordered = sorted(docs, key=lambda d: (key(d), d["id"]), reverse=descending)
    return [d["mrn"] for d in ordered]


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("sort", sorted(PATIENT_SORTS))
def test_every_sort_both_ways_with_ties_and_nones(store, clinic, sort, descending):
    docs = [store.patients.get(i) for i in clinic.values()]
    for d in docs:
        if isinstance(d.get("updated_at"), datetime):
            d["updated_at"] = d["updated_at"].isoformat()
    found = find(store, sort=sort, descending=descending, archived=None, limit=100)
    assert mrns(found) == expected_order(docs, sort, descending)


def test_paging_never_overlaps(store, clinic):
    for descending in (False, True):
        pages = [find(store, sort="sex", descending=descending, archived=None, skip=s, limit=3)
                 for s in (0, 3, 6)]
        seen = [m for p in pages for m in mrns(p)]
        assert len(seen) == len(set(seen)) == 8
        assert all(p.total == 8 for p in pages)


def test_mrn_after_pages_through_every_record_by_mrn(store, clinic):
    seen: list[str] = []
    after = None
    while True:
        page = find(store, archived=None, sort="mrn", mrn_after=after, limit=3, count=False)
        seen += mrns(page)
        if len(page.items) < 3:
            break
        after = page.items[-1]["mrn"]
    assert seen == sorted(clinic)
    assert mrns(find(store, mrn_after="MRN-0010", sort="mrn", limit=2)) == ["MRN-0100",
                                                                          "MRN-0101"]
    assert find(store, mrn_after="MRN-0102", archived=None).total == 0


def test_count_off_gives_no_total(store, clinic):
    found = find(store, count=False, limit=2)
    assert found.total is None and len(found.items) == 2


def test_alerts_latest_first_unarchived(store, clinic):
    assert [d["mrn"] for d in store.patients.alerts(10)] == ["MRN-0101", "MRN-0100"]
    assert [d["mrn"] for d in store.patients.alerts(1)] == ["MRN-0101"]
    store.patients.update(clinic["MRN-0101"], {"vitals_alert": False})
    assert [d["mrn"] for d in store.patients.alerts(10)] == ["MRN-0100"]
