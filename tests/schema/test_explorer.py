"""The GraphiQL explorer works with no internet: its page names only the service's own assets, each served, and a
real headless Chromium (Debian's, driven through chromedriver's W3C WebDriver API) runs a query in it with a token.

Without chromium and chromedriver the browser test is skipped, unless REGISTRY_REQUIRE_BROWSER=1 (CI sets it once
it has installed them), when it fails instead.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import httpx
import pytest

from registry.access import Role
from registry.config import Settings
from registry.tokens import issue
from schema.explorer import PREFIX, STATIC, ExplorerError, page, sha384
from tests.conftest import Registry
from tests.schema.server import deployment, free_port, serving

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the W3C WebDriver key of an element reference


@dataclass
class Server:
    url: str  # http://127.0.0.1:PORT
    settings: Settings

    def token(self, subject: str) -> str:
        return issue(self.settings, subject, Role.COMMUNE_OFFICER, "03405", timedelta(hours=1))


@pytest.fixture(scope="module")
def server(registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    settings = deployment(registry, tmp_path_factory.mktemp("explorer"))
    with serving(settings) as url:
        yield Server(url, settings)


class Assets(HTMLParser):
    """The URLs a page loads: each script's src and each link's href, with its integrity attribute."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        url = named.get("src") if tag == "script" else named.get("href") if tag == "link" else None
        if url:
            self.found.append((url, named.get("integrity")))


def test_the_page_loads_only_the_services_own_assets_and_each_is_served(server: Server) -> None:
    page = httpx.get(f"{server.url}/graphql", headers={"Accept": "text/html"}, timeout=30)  # as a browser asks
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    directives = dict(directive.strip().partition(" ")[::2] for directive in policy.split(";"))
    assert directives["default-src"] == "'none'" and directives["connect-src"] == "'self'"
    assert directives["script-src"].startswith("'self' 'sha256-") and "unsafe" not in directives["script-src"]
    parser = Assets()
    parser.feed(page.text)
    assets = [(url, integrity) for url, integrity in parser.found if not url.startswith("data:")]  # but the icon
    assert len(assets) == 7, assets  # react, react-dom, js-cookie, graphiql (js, css), the explorer plugin (js, css)
    for url, integrity in assets:
        assert not urlsplit(url).scheme and not urlsplit(url).netloc and url.startswith(f"{PREFIX}/"), url
        asset = httpx.get(server.url + url, timeout=30)  # no token: the assets are public
        assert asset.status_code == 200, url
        kind = "text/css" if url.endswith(".css") else "text/javascript"
        assert asset.headers["content-type"].startswith(kind), (url, asset.headers["content-type"])
        assert "immutable" in asset.headers["cache-control"] and asset.headers["x-content-type-options"] == "nosniff"
        assert asset.content == (STATIC / url.removeprefix(f"{PREFIX}/")).read_bytes()
        digest = "sha384-" + base64.b64encode(hashlib.sha384(asset.content).digest()).decode()
        assert integrity == digest, url  # the browser checks it too
    assert httpx.get(f"{server.url}{PREFIX}/graphiql@0.0.1/graphiql.min.js", timeout=30).status_code == 404
    assert httpx.post(f"{server.url}/graphql", json={"query": "{ me { role } }"}, timeout=30).status_code == 401


def test_every_vendored_package_carries_its_licence() -> None:
    packages = [
        "react@18.2.0",
        "react-dom@18.2.0",
        "js-cookie@3.0.5",
        "graphiql@3.8.3",
        "@graphiql/plugin-explorer@1.0.2",
    ]
    assert sorted(str(path.parent.relative_to(STATIC)) for path in STATIC.rglob("LICENSE")) == sorted(packages)
    assert all("MIT License" in (STATIC / package / "LICENSE").read_text() for package in packages)


def test_an_asset_not_vendored_as_the_page_asks_is_an_error_not_a_blank_page() -> None:
    react = "react@18.2.0/umd/react.production.min.js"
    for tag in (
        '<script src="https://elsewhere.example/react@0.0.1/umd/react.production.min.js"></script>',
        f'<script src="https://elsewhere.example/{react}" integrity="sha384-AAAA"></script>',
        '<script src="https://elsewhere.example/../__init__.py"></script>',
        '<script src="//elsewhere.example/anything.js"></script>',
    ):
        with pytest.raises(ExplorerError):
            page(f"<html><head>{tag}</head></html>")
    html, _ = page(f'<script src="https://elsewhere.example/{react}" integrity="{sha384(STATIC / react)}"></script>')
    assert f'src="{PREFIX}/{react}"' in html and 'integrity="sha384-' in html


class WebDriverError(AssertionError):
    pass


class Browser:
    """Headless Chromium through chromedriver's W3C WebDriver HTTP API, spoken with httpx (no client library)."""

    def __init__(self, driver: str, client: httpx.Client, session: str) -> None:
        self.driver, self.client, self.session = driver, client, session

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        answer = self.client.request(method, f"{self.driver}/session/{self.session}{path}", json=body)
        value = answer.json()["value"]
        if answer.status_code != 200:
            raise WebDriverError(f"{method} {path}: {value.get('error')}: {value.get('message', '')[:500]}")
        return value

    def open(self, url: str) -> None:
        self.call("POST", "/url", {"url": url})

    def script(self, source: str, *args: Any) -> Any:
        return self.call("POST", "/execute/sync", {"script": source, "args": list(args)})

    def until(self, what: str, probe: Callable[[], Any], timeout: float = 30) -> Any:
        deadline = time.monotonic() + timeout
        while not (found := probe()):
            if time.monotonic() > deadline:
                raise WebDriverError(f"waited {timeout} s for {what}; the page says: {self.text()[:500]!r}")
            time.sleep(0.1)
        return found

    def element(self, css: str) -> str | None:
        found = self.call("POST", "/elements", {"using": "css selector", "value": css})
        return str(found[0][ELEMENT]) if found else None

    def click(self, element: str) -> None:
        self.call("POST", f"/element/{element}/click", {})

    def text(self) -> str:
        return str(self.script("return document.body ? document.body.innerText : ''"))

    def console(self) -> list[dict[str, Any]]:
        """The browser's console and network errors since the last call (chromedriver's log endpoint)."""
        return list(self.call("POST", "/se/log", {"type": "browser"}))


def require_browser() -> tuple[str, str]:
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium and chromedriver:
        return chromium, chromedriver
    reason = "Debian's chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)"
    if os.environ.get("REGISTRY_REQUIRE_BROWSER") == "1":
        pytest.fail(f"REGISTRY_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture
def browser() -> Iterator[Browser]:
    chromium, chromedriver = require_browser()
    port = free_port()
    driver = subprocess.Popen([chromedriver, f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="registry-chromium-") as profile, httpx.Client(
        timeout=60, trust_env=False
    ) as client:  # fmt: skip
        try:
            for _ in range(100):
                try:
                    if client.get(f"{url}/status").json()["value"]["ready"]:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
            options = {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--no-proxy-server", "--no-first-run", "--disable-background-networking",
                         "--disable-component-update", "--disable-extensions", "--window-size=1280,900",
                         f"--user-data-dir={profile}"],
            }  # fmt: skip
            capabilities = {
                "browserName": "chrome",
                "goog:chromeOptions": options,
                "goog:loggingPrefs": {"browser": "ALL"},
            }
            created = client.post(f"{url}/session", json={"capabilities": {"alwaysMatch": capabilities}})
            assert created.status_code == 200, created.text
            session = created.json()["value"]["sessionId"]
            try:
                yield Browser(url, client, session)
            finally:
                client.delete(f"{url}/session/{session}")
        finally:
            driver.terminate()
            driver.wait(30)


def test_a_query_runs_in_the_explorer_in_a_real_browser(server: Server, browser: Browser) -> None:
    token = server.token("officer:explorer")
    # The page's own URL parameters fill its query and headers editors (decoded with decodeURIComponent: no "+").
    headers = json.dumps({"Authorization": f"Bearer {token}"})
    query = "{ me { role subject } }"
    browser.open(f"{server.url}/graphql?{urlencode({'q': query, 'headers': headers}, quote_via=quote)}")
    run = browser.until("GraphiQL's run button", lambda: browser.element(".graphiql-execute-button"))
    editors = (
        "return [...document.querySelectorAll('.graphiql-editor-tool .CodeMirror')].map(e => e.CodeMirror.getValue())"
    )
    assert headers in browser.script(editors)  # the token is in the headers editor
    # The explorer plugin lists the schema's fields: its assets loaded and introspection went with the token.
    browser.click(
        browser.until("the explorer's button", lambda: browser.element("[aria-label='Show GraphiQL Explorer']"))
    )
    browser.until("the explorer's listing", lambda: browser.element(".graphiql-explorer-root [data-field-name='me']"))
    browser.click(run)
    result = browser.until(
        "the result",
        lambda: browser.script(
            "const editor = document.querySelector('.result-window .CodeMirror');"
            "return editor && editor.CodeMirror.getValue();"
        ),
    )
    assert json.loads(result)["data"] == {"me": {"role": "commune_officer", "subject": "officer:explorer"}}
    assert "officer:explorer" in browser.text()  # shown in the result pane
    settings = browser.until("the settings button", lambda: browser.element("[aria-label='Open settings dialog']"))
    browser.click(settings)  # a dialog adds an inline <style>, which the page's policy must allow
    browser.until("the settings dialog", lambda: browser.element(".graphiql-dialog"))
    browser.script("console.error('probe')")  # the browser's log is read: an empty one below means something
    log = browser.console()
    assert any("probe" in entry["message"] for entry in log)
    # No asset failed to load, the Content-Security-Policy refused nothing, no script failed, no request was refused
    # (GraphiQL's own console messages aside).
    assert [entry for entry in log if entry["source"] != "console-api"] == []
