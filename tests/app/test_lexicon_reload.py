"""Admins edit a lexicon and reload it without a restart; every finding records the version that made it."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from tests.factories.conversations import transcript, utterance


def _post(client: TestClient, headers: dict[str, str], ext: str) -> dict[str, object]:
    payload = transcript(
        ext, [utterance("customer", "发票开了吗"), utterance("agent", "您好，你瞅啥呢，发票已经开了")]
    )
    resp = client.post("/v1/conversations", json=payload, headers=headers)
    assert resp.status_code == 201
    body: dict[str, object] = resp.json()
    return body


def _terms(body: dict[str, object]) -> list[str]:
    return [f["term"] for f in body["findings"] if f["kind"] == "sensitive_word"]  # type: ignore[attr-defined,index]


class TestReload:
    def test_new_term_applies_after_reload(
        self, admin_client: tuple[TestClient, dict[str, str]], lexicon_dir: Path
    ) -> None:
        client, headers = admin_client
        before = _post(client, headers, "r-1")
        assert _terms(before) == []
        old_version = client.get("/v1/admin/health", headers=headers).json()["lexicon_version"]

        path = lexicon_dir / "sensitive" / "service_forbidden.yaml"
        path.write_text(
            path.read_text(encoding="utf-8") + "  - {term: 你瞅啥, severity: 重要}\n", encoding="utf-8"
        )
        resp = client.post("/v1/admin/lexicons/reload", headers=headers)
        assert resp.status_code == 200
        new_version = resp.json()["lexicon_version"]
        assert new_version != old_version
        assert client.get("/v1/admin/health", headers=headers).json()["lexicon_version"] == new_version

        after = _post(client, headers, "r-2")
        assert _terms(after) == ["你瞅啥"]
        assert {f["lexicon_version"] for f in after["findings"]} == {new_version}  # type: ignore[attr-defined]
        # Stored results keep the version that produced them until someone re-analyses.
        kept = client.get(f"/v1/conversations/{before['id']}", headers=headers).json()
        assert _terms(kept) == []
        redone = client.post(f"/v1/conversations/{before['id']}/reanalyze", headers=headers).json()
        assert _terms(redone) == ["你瞅啥"]
        assert redone["lexicon_version"] == new_version

    def test_broken_file_keeps_old_lexicons(
        self, admin_client: tuple[TestClient, dict[str, str]], lexicon_dir: Path
    ) -> None:
        client, headers = admin_client
        version = client.get("/v1/admin/health", headers=headers).json()["lexicon_version"]
        (lexicon_dir / "sensitive" / "abuse.yaml").write_text(
            "category: 辱骂\nterms: [unclosed\n", encoding="utf-8"
        )
        resp = client.post("/v1/admin/lexicons/reload", headers=headers)
        assert resp.status_code == 422
        assert resp.json()["error"]["code"] == "invalid_lexicon"
        assert client.get("/v1/admin/health", headers=headers).json()["lexicon_version"] == version
        assert _terms(_post(client, headers, "r-3")) == []
