"""The desk's HTML: small server-rendered pages, every value escaped, no inline script or style.

Behaviour lives in static/desk.js, looks in static/desk.css; the Content-Security-Policy forbids
anything inline, so an injected tag in a tenant's content id could not run even if escaping
failed.
"""

from __future__ import annotations

from html import escape
from string import Template
from typing import Any

from streams.downstream.reviewdesk.identity import Reviewer

PREFIX = "/review"

_LAYOUT = Template("""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="csrf-token" content="$csrf">
<title>$title · hashgate review desk</title>
<link rel="stylesheet" href="$prefix/static/desk.css">
<script src="$prefix/static/desk.js" defer></script>
</head>
<body data-page="$page">
<header><a class="brand" href="$prefix/">hashgate review desk</a>$who</header>
<main>
$body
</main>
</body>
</html>
""")


def _who(reviewer: Reviewer | None, csrf: str) -> str:
    if reviewer is None:
        return ""
    logout = (
        f'<form method="post" action="{PREFIX}/logout" class="logout">'
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
        '<button type="submit">Log out</button></form>'
        if reviewer.via == "password"
        else ""
    )
    return (
        f'<span class="who">{escape(reviewer.name)} <span class="role">'
        f"{escape(reviewer.role.value)}</span></span>{logout}"
    )


def layout(page: str, title: str, body: str, *, csrf: str, reviewer: Reviewer | None) -> str:
    return _LAYOUT.substitute(
        csrf=escape(csrf),
        title=escape(title),
        prefix=PREFIX,
        page=page,
        who=_who(reviewer, csrf),
        body=body,
    )


def login_page(*, csrf: str, next_path: str, problem: str | None) -> str:
    message = f'<p class="problem" role="alert">{escape(problem)}</p>' if problem else ""
    body = f"""<h1>Log in</h1>
{message}
<form method="post" action="{PREFIX}/login" class="login">
<input type="hidden" name="csrf" value="{escape(csrf)}">
<input type="hidden" name="next" value="{escape(next_path)}">
<label>Name <input name="name" autocomplete="username" required autofocus></label>
<label>Password <input name="password" type="password" autocomplete="current-password"
 required></label>
<button type="submit">Log in</button>
</form>"""
    return layout("login", "Log in", body, csrf=csrf, reviewer=None)


def queue_page(*, csrf: str, reviewer: Reviewer) -> str:
    body = """<h1>Pending reports</h1>
<form class="filters" id="filters">
<label>Tenant <select name="tenant" id="tenant"><option value="">all</option></select></label>
<label>Source <select name="source" id="source"><option value="">all</option></select></label>
<span id="updated" class="muted"></span>
</form>
<table id="queue">
<thead><tr><th>Waiting</th><th>Tenant</th><th>Content</th><th>Source</th><th>Violations</th>
<th>Distance</th><th>TrackingId</th></tr></thead>
<tbody></tbody>
</table>
<p id="empty" class="muted" hidden>No report waits for review.</p>"""
    return layout("queue", "Queue", body, csrf=csrf, reviewer=reviewer)


def _row(label: str, value: Any) -> str:
    return f"<tr><th>{escape(label)}</th><td>{escape(str(value))}</td></tr>"


def report_page(
    summary: dict[str, Any], *, phase: str, csrf: str, reviewer: Reviewer, uploader: str
) -> str:
    report_id = escape(summary["report_id"])
    matches = "".join(
        "<tr>"
        f"<td>{escape(m['source'])}</td><td>{escape(', '.join(m['violations']))}</td>"
        f"<td>{escape(str(m['distance']) if m['distance'] is not None else '-')}</td>"
        f"<td>{escape(m['match_id'] or '-')}</td>"
        "</tr>"
        for m in summary["matches"]
    )
    facts = "".join(
        _row(label, value)
        for label, value in (
            ("Tenant", summary["tenant"]),
            ("Content id", summary["content_id"]),
            ("Event id", summary["event_id"]),
            ("Uploaded", summary["uploaded_at"]),
            ("Uploader", uploader),
            ("Media", summary["media"]),
            ("PhotoDNA TrackingId", summary["tracking_id"]),
            ("Waiting since", summary["requested_at"]),
            ("NCMEC environment", "test" if summary["is_test"] else "production"),
            ("State", phase),
        )
    )
    decide = (
        """<section class="decide">
<button type="button" id="approve" class="approve">Approve and file <kbd>a</kbd></button>
<form id="reject">
<label>Reason for rejecting <textarea id="reason" name="reason" required rows="2"></textarea>
</label>
<button type="submit" class="reject">Reject <kbd>r</kbd></button>
</form>
<p id="status" role="status"></p>
</section>"""
        if reviewer.may_decide and phase == "pending"
        else f'<p class="muted">{"Read only (auditor)." if not reviewer.may_decide else ""}</p>'
    )
    body = f"""<p><a href="{PREFIX}/">&larr; Queue</a></p>
<h1>Report {report_id}</h1>
<div class="report" data-report="{report_id}">
<figure class="evidence">
<img id="evidence" alt="The matched image, blurred" src="{PREFIX}/reports/{report_id}/image"
 data-blurred="{PREFIX}/reports/{report_id}/image" class="blurred">
<figcaption><button type="button" id="reveal">Reveal image <kbd>v</kbd></button>
<span class="muted">Blurred again when you leave it (<kbd>Esc</kbd>).</span></figcaption>
</figure>
<section>
<h2>Match</h2>
<table class="matches"><thead><tr><th>Source</th><th>Violations</th><th>Distance</th>
<th>Match id</th></tr></thead><tbody>{matches}</tbody></table>
<h2>Upload</h2>
<table class="facts">{facts}</table>
{decide}
</section>
</div>"""
    return layout("report", "Report", body, csrf=csrf, reviewer=reviewer)
