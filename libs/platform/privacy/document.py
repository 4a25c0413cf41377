"""The disclosure (開示請求) as a document a person reads: Japanese HTML, printable (A4, a print
stylesheet), rendered from the JSON that `tsunagu disclose` and GET /v1/audit/subjects/{id} give.

What is held and since when, for which purposes, every recipient by name with the date and the
consent or legal basis it rested on (APPI 第33条, with the provision records of 第29条), the
supporter's training record; every date in 和暦 and Western form. Only presentation lives here:
which records belong to the person is reading.disclose_subject's rule."""

from __future__ import annotations

from datetime import UTC, date, datetime
from html import escape
from typing import Any

from libs.domain.audit import PURPOSES
from libs.domain.fiscal import JST
from libs.domain.legal_bases import LEGAL_BASES
from libs.domain.wareki import wareki_and_western
from libs.platform.privacy.document_labels import (
    EVENT_LABELS,
    FIELD_LABELS,
    HIDDEN_FIELDS,
    ITEM_LABELS,
    SERVICE_LABELS,
    VALUE_LABELS,
)

STYLE = """
body { font-family: "Noto Sans CJK JP", "Noto Sans JP", sans-serif; margin: 2em auto; max-width: 56em;
       color: #111; line-height: 1.6; }
h1 { font-size: 1.5em; border-bottom: 2px solid #333; padding-bottom: .3em; }
h2 { font-size: 1.2em; margin-top: 1.6em; border-left: 6px solid #456; padding-left: .5em; }
h3 { font-size: 1.05em; margin-top: 1.2em; }
table { border-collapse: collapse; width: 100%; margin: .5em 0 1em; font-size: .92em; }
th, td { border: 1px solid #888; padding: .3em .5em; text-align: left; vertical-align: top; }
th { background: #eef1f4; white-space: nowrap; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: .2em 1em; }
dl.meta dt { font-weight: bold; }
.none { color: #555; }
.note { font-size: .85em; color: #333; }
@page { size: A4; margin: 18mm 15mm; }
@media print {
  body { margin: 0; max-width: none; font-size: 10.5pt; }
  h2 { break-after: avoid; }
  tr, dl { break-inside: avoid; }
  th { background: #eee !important; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"""


def both(value: Any) -> str:
    """A date or an instant (shown as its date in Japan) in 和暦 and Western form."""
    if value is None or value == "":
        return "—"
    if isinstance(value, datetime):
        day = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(JST).date()
    elif isinstance(value, date):
        day = value
    else:
        text = str(value)
        day = (datetime.fromisoformat(text).astimezone(JST).date() if "T" in text or " " in text
               else date.fromisoformat(text))
    return wareki_and_western(day)


def _name(names: dict[str, str], party: Any) -> str:
    party = str(party)
    return f"{names[party]}" if party in names else party


def _items(items: Any) -> str:
    return "、".join(ITEM_LABELS.get(str(i), str(i)) for i in items or []) or "—"


def _value(key: str, value: Any, names: dict[str, str]) -> str:
    if isinstance(value, dict):
        return _fields(value, names)
    if isinstance(value, list):
        if key == "items":
            return escape(_items(value))
        return "、".join(_value(key, v, names) for v in value)
    if value is None:
        return "—"
    text = str(value)
    if text in names:
        return escape(names[text])
    if text in VALUE_LABELS:
        return escape(VALUE_LABELS[text])
    if key.endswith(("_on", "_at", "_date")) or key in ("on", "time"):
        try:
            return escape(both(text))
        except ValueError:
            pass
    return escape(text)


def _fields(data: dict[str, Any], names: dict[str, str]) -> str:
    return "<br>".join(f"{escape(FIELD_LABELS.get(k, k))}: {_value(k, v, names)}" for k, v in data.items())


def _basis(row: dict[str, Any], consents: dict[str, dict[str, Any]]) -> str:
    if row.get("basis_kind") == "legal_basis":
        basis = LEGAL_BASES.get(row["basis"])
        return (f"法令上の根拠: 個人情報保護法 {basis.article}（{basis.name}）" if basis
                else f"法令上の根拠: {row['basis']}")
    consent = consents.get(row["basis"])
    given = f"（{both(consent['given_at'])} に同意）" if consent else ""
    return f"ご本人の同意{given}"


def _purposes(part: dict[str, Any]) -> list[str]:
    found: list[str] = []
    for c in part["consents"]:
        found += (c["data"].get("record") or {}).get("purposes") or []
    return list(dict.fromkeys(found))


def _section(part: dict[str, Any]) -> str:
    names = part.get("names") or {}
    service = SERVICE_LABELS.get(part["service"], part["service"])
    events = part["events"]
    first = min((e["time"] for e in events), default=None)
    centres = {str(e["data"].get("centre_id")) for e in events}
    controllers = sorted({_name(names, e["tenant"]) for e in events} | {names[c] for c in centres if c in names})
    out = [f"<section class=\"service\"><h2>{escape(service)}</h2>",
           "<dl class=\"meta\">",
           f"<dt>保有している者</dt><dd>{escape('、'.join(controllers))}</dd>",
           f"<dt>保有を始めた日</dt><dd>{escape(both(first))}</dd>",
           f"<dt>記録の件数</dt><dd>{len(events)} 件</dd>",
           f"<dt>利用目的</dt><dd>{escape('、'.join(_purposes(part)) or '相談支援の実施（同意書に記載の目的）')}</dd>",
           "</dl>"]
    training = [e for e in events if _kind(e) in ("TrainingAttended", "TrainingCompleted")]
    if training:
        out.append("<h3>研修の受講記録</h3><table class=\"training\"><tr><th>研修</th><th>記録</th><th>日付</th>"
                   "<th>内容</th></tr>")
        for e in training:
            data = e["data"]
            day = data.get("attended_on") or data.get("completed_on")
            shown = {k: v for k, v in data.items() if k not in ("trainee_id", "attended_on", "completed_on")}
            out.append(f"<tr><td>{escape(_name(names, e['subject']))}</td>"
                       f"<td>{escape(EVENT_LABELS.get(_kind(e), _kind(e)))}</td><td>{escape(both(day))}</td>"
                       f"<td>{_fields(shown, names)}</td></tr>")
        out.append("</table>")
    consents = {c["consent_id"]: c for c in part["consents"]}
    out.append("<h3>第三者への提供の記録</h3>")
    if part["provisions"]:
        out.append("<table class=\"provisions\"><tr><th>提供先</th><th>提供日</th><th>提供した項目</th>"
                   "<th>根拠</th></tr>")
        for p in part["provisions"]:
            out.append(f"<tr><td class=\"recipient\">{escape(_name(names, p['counterpart']))}</td>"
                       f"<td>{escape(both(p['on']))}</td><td>{escape(_items(p['items']))}</td>"
                       f"<td>{escape(_basis(p, consents))}</td></tr>")
        out.append("</table>")
    else:
        out.append("<p class=\"none\">第三者への提供はありません。</p>")
    out.append("<h3>同意の記録</h3>")
    if part["consents"]:
        out.append("<table class=\"consents\"><tr><th>同意した日</th><th>提供先</th><th>項目</th><th>目的</th>"
                   "<th>状態</th></tr>")
        for c in part["consents"]:
            record = c["data"].get("record") or {}
            recipients = "、".join(_name(names, r) for r in record.get("recipients") or []) or "—"
            state = "有効" if c["status"] == "active" else f"撤回（{both(c['withdrawn_at'])}）"
            items = [i["category"] for i in record.get("pii_categories") or []] or c["data"].get("items")
            out.append(f"<tr><td>{escape(both(c['given_at']))}</td><td>{escape(recipients)}</td>"
                       f"<td>{escape(_items(items))}</td><td>{escape('、'.join(record.get('purposes') or []))}</td>"
                       f"<td>{escape(state)}</td></tr>")
        out.append("</table>")
    else:
        out.append("<p class=\"none\">同意の記録はありません。</p>")
    out.append("<h3>保有している記録</h3><table class=\"events\"><tr><th>日付</th><th>記録</th><th>内容</th></tr>")
    for e in events:
        data = _fields({k: v for k, v in e["data"].items() if k not in HIDDEN_FIELDS}, names)
        out.append(f"<tr><td>{escape(both(e['time']))}</td><td>{escape(EVENT_LABELS.get(_kind(e), _kind(e)))}</td>"
                   f"<td>{data}</td></tr>")
    out.append("</table></section>")
    return "\n".join(out)


def _kind(event: dict[str, Any]) -> str:
    return str(event["type"]).split(".")[3]


def render_disclosure(document: dict[str, Any], *, made_at: datetime | None = None) -> str:
    """The HTML of a disclosure document: {"subject", "purpose", "services": [one service's
    disclosure, ...]} as `tsunagu disclose` writes it (one service's answer alone also works)."""
    parts = document.get("services") or [document]
    made = (made_at or datetime.now(UTC)).astimezone(JST)
    purpose = document.get("purpose")
    body = ["<h1>保有個人データの開示</h1>",
            "<dl class=\"meta\">",
            f"<dt>作成日</dt><dd id=\"made\">{escape(both(made.date()))}</dd>",
            f"<dt>ご本人の番号</dt><dd>{escape(str(document.get('subject', '')))}</dd>",
            *([f"<dt>開示の事由</dt><dd>{escape(PURPOSES.get(purpose, purpose))}</dd>"] if purpose else []),
            "</dl>",
            "<p class=\"note\">個人情報の保護に関する法律 第33条に基づき、当方が保有するあなたの個人データと、"
            "その第三者への提供の記録（同法 第29条）をお知らせします。日付は和暦と西暦で示します。</p>"]
    body += [_section(p) for p in parts] or ["<p class=\"none\">保有している記録はありません。</p>"]
    return ("<!DOCTYPE html>\n<html lang=\"ja\"><head><meta charset=\"utf-8\">"
            "<title>保有個人データの開示</title>"
            f"<style>{STYLE}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")
