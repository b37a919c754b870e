"""The console's words, Japanese first, English on request (`?lang=en`, kept in the session)."""

from __future__ import annotations

LANGS = ("ja", "en")

TEXT: dict[str, dict[str, str]] = {
    "app": {"ja": "renkei 連携コンソール", "en": "renkei console"},
    "login": {"ja": "ログイン", "en": "Log in"},
    "logout": {"ja": "ログアウト", "en": "Log out"},
    "user": {"ja": "ユーザー名", "en": "User name"},
    "password": {"ja": "パスワード", "en": "Password"},
    "dashboard": {"ja": "ダッシュボード", "en": "Dashboard"},
    "approvals": {"ja": "承認待ち", "en": "Approvals"},
    "timelines": {"ja": "タイムライン", "en": "Timelines"},
    "users": {"ja": "ユーザー", "en": "Users"},
    "audit": {"ja": "監査ログ", "en": "Audit log"},
    "pipeline": {"ja": "パイプライン", "en": "Pipeline"},
    "destination": {"ja": "送信先", "en": "Destination"},
    "state": {"ja": "状態", "en": "State"},
    "messages": {"ja": "メッセージ", "en": "Messages"},
    "deliveries": {"ja": "配信", "en": "Deliveries"},
    "approve": {"ja": "承認", "en": "Approve"},
    "reject": {"ja": "却下", "en": "Reject"},
    "approve_all": {"ja": "この患者の分をすべて承認", "en": "Approve all of this patient's"},
    "note": {"ja": "メモ", "en": "Note"},
    "nothing_waiting": {"ja": "承認待ちはありません", "en": "Nothing is waiting for approval"},
    "patient": {"ja": "患者", "en": "Patient"},
    "forbidden": {"ja": "この画面を開く権限がありません", "en": "You may not open this page"},
    "bad_request": {"ja": "要求を受け付けられません", "en": "The request was refused"},
    "not_found": {"ja": "見つかりません", "en": "Not found"},
    "roles": {"ja": "役割", "en": "Roles"},
    "posts": {"ja": "投稿", "en": "Posts"},
    "replaced": {"ja": "差し替え済み", "en": "replaced"},
    "retracted": {"ja": "取り消し済み", "en": "withdrawn"},
    "attachments": {"ja": "添付", "en": "Attachments"},
    "decided": {"ja": "処理しました", "en": "Done"},
    "verify": {"ja": "検証", "en": "Verify"},
    "intact": {"ja": "改ざんは見つかりませんでした", "en": "intact"},
    "broken": {"ja": "改ざんの疑い", "en": "broken"},
    "updated": {"ja": "更新", "en": "updated"},
    "held_heads": {"ja": "止まっている配信", "en": "Held and failing deliveries"},
    "error": {"ja": "エラー", "en": "Error"},
}


def translator(lang: str):
    lang = lang if lang in LANGS else "ja"

    def t(key: str) -> str:
        return TEXT[key][lang]

    return t
