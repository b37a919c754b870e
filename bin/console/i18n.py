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
    # message browser
    "since": {"ja": "から", "en": "From"},
    "until": {"ja": "まで", "en": "Until"},
    "filter": {"ja": "絞り込む", "en": "Filter"},
    "received": {"ja": "受信", "en": "Received"},
    "data_type": {"ja": "種別", "en": "Data type"},
    "reason": {"ja": "理由", "en": "Reason"},
    "older": {"ja": "さらに表示", "en": "More"},
    "message": {"ja": "メッセージ", "en": "Message"},
    "source_key": {"ja": "入力元", "en": "Source key"},
    "warnings": {"ja": "警告", "en": "Warnings"},
    "reprocess": {"ja": "再処理", "en": "Reprocess"},
    "reprocessed": {"ja": "再処理しました", "en": "Reprocessed"},
    "raw": {"ja": "受信データ", "en": "Raw input"},
    "records": {"ja": "解析結果", "en": "Parsed records"},
    "attempts": {"ja": "試行", "en": "Attempts"},
    "first_attempt": {"ja": "初回", "en": "First attempt"},
    "next_attempt": {"ja": "次回", "en": "Next attempt"},
    "receipt": {"ja": "受領", "en": "Receipt"},
    # patients
    "patients": {"ja": "患者", "en": "Patients"},
    "name": {"ja": "氏名", "en": "Name"},
    "consent": {"ja": "同意", "en": "Consent"},
    "consent_granted": {"ja": "同意あり", "en": "granted"},
    "consent_withdrawn": {"ja": "同意撤回", "en": "withdrawn"},
    "consent_none": {"ja": "同意未登録", "en": "none recorded"},
    "scope": {"ja": "範囲", "en": "Scope"},
    "date": {"ja": "日付", "en": "Date"},
    "grant": {"ja": "同意する", "en": "Grant"},
    "withdraw": {"ja": "撤回する", "en": "Withdraw"},
    "save": {"ja": "保存", "en": "Save"},
    "links": {"ja": "連携ID", "en": "Links"},
    "system": {"ja": "システム", "en": "System"},
    "value": {"ja": "値", "en": "Value"},
    "bad_date": {"ja": "日付が正しくありません (YYYY-MM-DD)", "en": "The date is not valid (YYYY-MM-DD)"},
    "no_scope": {"ja": "同意の範囲を1つ以上選んでください", "en": "Choose at least one consent scope"},
    # vitals trend
    "vitals": {"ja": "バイタル推移", "en": "Vitals trend"},
    "last_weeks": {"ja": "直近N週間", "en": "last N weeks"},
    "values": {"ja": "件", "en": "values"},
    "no_vitals": {"ja": "この期間のバイタル測定はありません", "en": "No vital signs in this period"},
    "chart_blood_pressure": {"ja": "血圧", "en": "Blood pressure"},
    "chart_pulse": {"ja": "脈拍", "en": "Pulse"},
    "chart_spo2": {"ja": "SpO₂", "en": "SpO₂"},
    "chart_temperature": {"ja": "体温", "en": "Temperature"},
    "chart_weight": {"ja": "体重", "en": "Weight"},
}


def translator(lang: str):
    lang = lang if lang in LANGS else "ja"

    def t(key: str) -> str:
        return TEXT[key][lang]

    return t
