"""The workbench page: one self-contained HTML document (style, script and state inline, no front-end build)."""
from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from importlib import resources

_ASSETS = resources.files(__package__)
_MARKER = re.compile(r"__(?:CSP|TITLE|STYLE|BOOT|SCRIPT)__")


def _asset(name: str) -> str:
    return _ASSETS.joinpath(name).read_text(encoding="utf-8")


def _json_in_html(value) -> str:
    """JSON that is safe inside a <script> element (no '</script>', no '<!--')."""
    return json.dumps(value, separators=(",", ":")).replace("<", "\\u003c").replace(">", "\\u003e")


def page(state: dict, live: bool) -> str:
    """The page for a state (see workbench.state); live pages poll the server's /state for changes."""
    script = _asset("page.js")
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    # only this script runs (no inline handlers, nothing from elsewhere); the page reads only its own server
    csp = (f"default-src 'none'; script-src 'sha256-{digest}'; style-src 'unsafe-inline'; img-src data:; "
           f"connect-src 'self'; base-uri 'none'; form-action 'none'")
    parts = {"__CSP__": csp, "__TITLE__": html.escape(state.get("title") or "spec"), "__STYLE__": _asset("page.css"),
             "__BOOT__": _json_in_html({"live": live, "state": state}), "__SCRIPT__": script}
    return _MARKER.sub(lambda match: parts[match.group(0)], _asset("page.html"))   # one pass: data stays data
