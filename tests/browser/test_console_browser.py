"""The console in Debian's chromium against a real `renkei serve`: each role logs in, a nurse is refused
(403, audited), a physician's approval reaches the timeline once, a CSRF-less POST and a wrong Host are
refused, an idle session logs out. The pages it passes are photographed into docs/screenshots/."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

pytestmark = pytest.mark.browser


def _audit(data, actor: str) -> list[tuple[str, str]]:
    from renkei.pipelines.schema import audit_log
    from renkei.pipelines.store import Store

    store = Store.in_data_dir(data)
    try:
        with store.read() as conn:
            rows = conn.execute(sa.select(audit_log.c.action, audit_log.c.detail).where(audit_log.c.actor == actor))
            return [(r.action, r.detail) for r in rows]
    finally:
        store.close()


@pytest.mark.parametrize(
    ("name", "landing", "heading"),
    [("it.admin", "/dashboard", "ダッシュボード"), ("dr.tanaka", "/approvals", "承認待ち"),
     ("nurse.sato", "/dashboard", "ダッシュボード"), ("audit.kato", "/dashboard", "ダッシュボード")],
)  # fmt: skip
def test_each_role_logs_in(server, page, login, screenshot, name: str, landing: str, heading: str) -> None:
    login(page, server, name)
    assert page.url == f"{server.url}{landing}"
    assert page.locator("h1").first.inner_text() == heading
    assert name in page.locator("header .who").inner_text()
    if name == "it.admin":
        screenshot(page, "dashboard")
    assert ("login", "console") in _audit(server.data, name)


def test_a_nurse_is_refused_approvals_and_users_and_it_is_audited(server, page, login) -> None:
    login(page, server, "nurse.sato")
    assert page.locator("header a[href='/approvals']").count() == 0  # not offered in the menu either
    for path in ("/approvals", "/users"):
        response = page.goto(f"{server.url}{path}")
        assert response.status == 403
        assert "権限がありません" in page.content()
    refusals = [d for a, d in _audit(server.data, "nurse.sato") if a == "access.refused"]
    assert "approvals.decide /approvals" in refusals
    assert "users.manage /users" in refusals


def test_a_physician_approves_a_held_lab_result_and_it_appears_once(server, page, login, screenshot) -> None:
    login(page, server, "dr.tanaka")
    items = page.locator(".item")
    assert items.count() == 2  # the patient's two held lab results, with their content
    screenshot(page, "approvals")
    first = items.first
    message_id = first.get_attribute("data-message")
    text = first.locator(".post").first.inner_text()
    assert text.strip()
    first.locator("input[name=note]").fill("確認済み")
    first.locator("button[value=approve]").click()
    page.wait_for_load_state()
    assert page.locator("[role=status]").inner_text().endswith("1")
    assert page.locator(f".item[data-message='{message_id}']").count() == 0
    page.goto(f"{server.url}/timelines/{server.patient}")
    posts = page.locator(".post-card .post")
    shown = [posts.nth(i).inner_text() for i in range(posts.count())]
    assert shown.count(text) == 1
    screenshot(page, "timeline")
    assert ("approval.approve", "確認済み") in _audit(server.data, "dr.tanaka")


def test_a_post_without_the_csrf_token_is_refused(server, page, login) -> None:
    login(page, server, "dr.tanaka")
    message_id = page.locator(".item").first.get_attribute("data-message")
    status = page.evaluate(
        """async (id) => (await fetch('/approvals/decide', {method: 'POST',
             body: new URLSearchParams({id: id, action: 'approve', note: ''})})).status""",
        message_id,
    )
    assert status == 403
    page.reload()
    assert page.locator(f".item[data-message='{message_id}']").count() == 1  # still waiting


def test_a_wrong_host_header_is_refused(server, page) -> None:
    # attacker.example resolves to 127.0.0.1 in this browser (a DNS-rebinding page): the Host check refuses it
    response = page.goto(f"http://attacker.example:{server.port}/login")
    assert response.status == 400
    assert page.locator("input[name=password]").count() == 0
    assert page.goto(f"{server.url}/login").status == 200


def test_an_idle_session_logs_out(serve_with, page, login) -> None:
    served = serve_with(0.2)  # twelve seconds (long enough to log in on a busy machine)
    login(page, served, "it.admin")
    assert page.url.endswith("/dashboard"), page.content()
    page.goto(f"{served.url}/users")  # a page that does not refresh itself (the dashboard polls)
    assert page.locator("h1").first.inner_text() == "ユーザー"
    page.wait_for_timeout(14_000)  # no requests for longer than the idle timeout
    page.reload()
    assert "/login" in page.url
    assert page.locator("input[name=password]").count() == 1
    assert ("logout", "session expired") in _audit(served.data, "it.admin")


def test_the_dashboard_refreshes_its_tables_without_reloading(server, page, login) -> None:
    login(page, server, "audit.kato")
    page.evaluate("window.loadedOnce = true")  # gone if the page were reloaded
    before = page.locator("#updated-at").inner_text()
    page.wait_for_function(f"document.getElementById('updated-at').textContent !== {before!r}", timeout=25_000)
    assert page.evaluate("window.loadedOnce") is True
    assert page.locator("#message-counts td", has_text="sync").count() == 1
