"""Approves or denies a device login by driving the server's HTML pages with `requests`, like a person in a
browser: a GENERIC form walker. It knows no page paths and no page order: on each page it parses the form (its
action, hidden inputs and buttons), fills `user_code`, `username` and `password` where such inputs exist,
presses the `decision` button with the wanted value, and follows redirects with GET, until a page has no form.
So it works whether the sign-in is part of the device pages or a shared sign-in page the flow redirects to, and
it drives a browser login too (`browser_sign_in`): the authorization URL, the sign-in page with its CSRF field,
the consent page when the client has one, and the redirect to the SDK's loopback listener, whose page ends it."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Dict, List, Optional, Tuple
from urllib.parse import parse_qs, urljoin, urlsplit

import requests


@dataclass
class Form:
    action: str = ""
    method: str = "get"
    fields: Dict[str, str] = field(default_factory=dict)
    inputs: List[str] = field(default_factory=list)
    buttons: List[Tuple[str, str]] = field(default_factory=list)


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: List[Form] = []
        self._current: Optional[Form] = None

    def handle_starttag(self, tag: str, attrs: List[Tuple[str, Optional[str]]]) -> None:
        a = {k: (v or "") for k, v in attrs}
        if tag == "form":
            self._current = Form(action=a.get("action", ""), method=a.get("method", "get").lower())
            self.forms.append(self._current)
        elif self._current is None:
            return
        elif tag == "input" and a.get("name"):
            self._current.inputs.append(a["name"])
            if a.get("type", "text") not in ("submit", "button", "checkbox", "radio"):
                self._current.fields[a["name"]] = a.get("value", "")
        elif tag == "button" and a.get("name"):
            self._current.buttons.append((a["name"], a.get("value", "")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


def forms_of(html: str) -> List[Form]:
    parser = _FormParser()
    parser.feed(html)
    return [f for f in parser.forms if f.method == "post"]


class PageError(AssertionError):
    pass


def walk(
    url: str,
    *,
    user_code: str,
    username: str,
    password: str,
    decision: str = "approve",
    max_steps: int = 12,
) -> requests.Response:
    """Opens `url` (the verification page, with or without the code) and walks the forms until a page without
    a form (the result page), which it returns. Raises PageError on an error status or too many steps."""
    session = requests.Session()
    response = session.get(url, allow_redirects=False, timeout=30)
    for _ in range(max_steps):
        while response.status_code in (301, 302, 303, 307, 308):
            response = session.get(urljoin(response.url, response.headers["location"]), allow_redirects=False, timeout=30)
        if response.status_code >= 400:
            raise PageError(f"{response.url} answered {response.status_code}: {response.text[:500]}")
        forms = forms_of(response.text)
        if not forms:
            return response
        form = forms[0]
        data = dict(form.fields)
        if "user_code" in form.inputs and not data.get("user_code"):
            data["user_code"] = user_code
        if "username" in form.inputs:
            data["username"] = username
        if "password" in form.inputs:
            data["password"] = password
        names = {name for name, _ in form.buttons}
        if "decision" in names:
            values = [v for n, v in form.buttons if n == "decision"]
            if decision not in values:
                raise PageError(f"no {decision!r} button on {response.url}: {values}")
            data["decision"] = decision
        response = session.post(urljoin(response.url, form.action), data=data, allow_redirects=False, timeout=30)
    raise PageError(f"still on a form after {max_steps} pages: {response.url}")


def browser_sign_in(authorize_url: str, *, username: str, password: str, decision: str = "allow") -> requests.Response:
    """Plays a person in a browser through a browser login: opens `authorize_url`, signs in (the form's hidden
    `csrf` and `return_to` are sent back as they came), presses `decision` (`allow` or `deny`) on the consent
    page if one comes, and follows the redirect to the loopback `redirect_uri`. Returns the loopback's page."""
    redirect_uri = parse_qs(urlsplit(authorize_url).query)["redirect_uri"][0]
    page = walk(authorize_url, user_code="", username=username, password=password, decision=decision)
    if not page.url.startswith(redirect_uri):
        raise PageError(f"the browser ended on {page.url}, not on the loopback {redirect_uri}: {page.text[:500]}")
    return page
