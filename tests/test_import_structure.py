"""Import keeps the source's structure: sub-theme, ticket URL and unmapped columns as JSON."""

from __future__ import annotations

import json
from pathlib import Path

from bot.importer import run_import
from bot.ingest import parse_mapping
from bot.store.db import Store


def rows(store: Store, sql: str) -> list[tuple[object, ...]]:
    return [tuple(r) for r in store.conn.execute(sql)]


def test_cfpb_issue_is_the_sub_theme_and_other_columns_are_queryable_attributes(
    tmp_path: Path,
) -> None:
    src = tmp_path / "cfpb.csv"
    src.write_text(
        "id,created_at,product,channel,text,sub_product,issue,company,consumer_name\n"
        "CFPB-1,2023-05-01,Payday or personal loan,Web,They rolled my loan over again,"
        "Payday loan,Struggling to pay your loan,ACME LENDING,Jane Roe\n",
        encoding="utf-8",
    )
    store = Store(tmp_path / "x.db")
    run_import(store, src)
    assert rows(store, "SELECT id, theme, sub_theme, url, attributes FROM complaints") == [
        ("CFPB-1", "payday or personal loan", "struggling to pay your loan", "",
         json.dumps({"sub_product": "Payday loan", "company": "ACME LENDING"})),
    ]
    # a column that names a person is not kept at all, redacted or not
    assert "Jane" not in json.dumps(rows(store, "SELECT * FROM complaints"))
    assert rows(
        store,
        "SELECT id FROM complaints WHERE json_extract(attributes, '$.sub_product') = 'Payday loan'",
    ) == [("CFPB-1",)]
    # the sub-theme is searchable: the narrative never says "struggling"
    assert rows(
        store, "SELECT rowid FROM complaints_fts WHERE complaints_fts MATCH 'struggling'"
    ) == [(1,)]


def test_zendesk_tags_give_theme_and_sub_theme_and_the_ticket_url_is_kept(
    tmp_path: Path,
) -> None:
    src = tmp_path / "tickets.json"
    src.write_text(json.dumps({"tickets": [{
        "id": 35436, "created_at": "2026-11-01T10:00:00Z", "description": "Refund never came",
        "tags": ["refunds", "late_refund", "vip"], "url": "https://acme.zendesk.com/tickets/35436",
        "status": "open", "requester_id": 99, "via": {"channel": "email"},
    }]}), encoding="utf-8")
    store = Store(tmp_path / "x.db")
    run_import(store, src)
    assert rows(store, "SELECT id, theme, sub_theme, channel, url, attributes FROM complaints") == [
        ("35436", "refunds", "late_refund", "email", "https://acme.zendesk.com/tickets/35436",
         json.dumps({"status": "open"})),
    ]


def test_map_names_sub_theme_and_url_columns(tmp_path: Path) -> None:
    src = tmp_path / "x.csv"
    src.write_text(
        "ref,when,body,area,detail,link\n"
        "A1,2026-10-01,The courier left it in the rain,delivery,wet parcel,"
        "https://help.example.com/t/A1\n"
        "A2,2026-10-02,Bad link,delivery,late,javascript:alert(1)\n",
        encoding="utf-8",
    )
    mapping = parse_mapping(
        ["ref=id", "when=created_at", "body=text", "area=theme", "detail=sub_theme", "link=url"]
    )
    store = Store(tmp_path / "x.db")
    run_import(store, src, mapping=mapping)
    assert rows(store, "SELECT id, theme, sub_theme, url, attributes FROM complaints") == [
        ("A1", "delivery", "wet parcel", "https://help.example.com/t/A1", "{}"),
        ("A2", "delivery", "late", "", "{}"),
    ]
