"""Sign-in for the dashboard: who sees it, decided before anything of the store is read.

Signing in is Streamlit's own (`st.login`, `st.user`, `st.logout`: OpenID Connect, set up in
`[auth]` of .streamlit/secrets.toml), so a team plugs in the provider it already has.
feeds.yaml's `dashboard.allow` names who may see the data (monitor/access.py says who matches).

- `require_sign_in(setup)` runs before feeds.yaml is read: with sign-in on, a signed-out
  visitor gets the sign-in page and nothing else; a sign-in setup that lacks something stops
  the page with what it lacks.
- `admit(setup, config)` runs before the store is read: a signed-in user not in `allow` (or
  everyone, while `allow` is empty) gets a refusal and a Sign out button; `allow` without
  sign-in set up, or an address beyond this machine without sign-in, shows one message on how
  to set it up. It returns the `Viewer` the page shows in the sidebar.
- `return_to_link(setup)`: the provider sends everyone back to the dashboard's home page, so a
  link opened before signing in (`?view=timeline&e=...`) is remembered when Sign in is
  clicked, for this browser (by its XSRF cookie, which survives the sign-in round trip), and
  the browser is sent back to it after signing in.

What it leaves to others: the rules (monitor/access.py), the data (data.py), the view (state.py).
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import streamlit as st
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.runtime.scriptrunner import get_script_run_ctx

from monitor.access import NO_AUTH_ENV, SignIn, check_sign_in, is_allowed, is_loopback
from monitor.config import Config

from .widgets import md

XSRF_COOKIE = "_streamlit_xsrf"
LINK_SECONDS = 15 * 60  # how long a link waits for its visitor to come back signed in
MAX_LINKS = 10_000
MAX_QUERY = 8_000  # characters of a remembered query string
SETUP_HELP = "see “Sign-in” in the README"


# --------------------------------------------------------------------------------------------
# The setup: sign-in settings, --no-auth, the address the server listens on


@dataclass(frozen=True)
class Setup:
    sign_in: SignIn | None  # [auth] of secrets.toml, checked; None: not set up
    no_auth: bool  # started with --no-auth: no sign-in, whatever is set up
    address: str | None  # server.address; None or "" means every interface

    @property
    def signing_in(self) -> bool:
        return self.sign_in is not None and not self.no_auth

    @property
    def exposed(self) -> bool:
        """Listening beyond this machine."""
        return not is_loopback(self.address)


def current_setup() -> Setup:
    return Setup(
        sign_in=check_sign_in(secrets_auth()),
        no_auth=os.environ.get(NO_AUTH_ENV, "").strip() not in ("", "0"),
        address=st.get_option("server.address"),
    )


def secrets_auth() -> Mapping[str, Any] | None:
    """The [auth] section of the secrets Streamlit loaded, or None (no secrets.toml, no
    [auth], or a file Streamlit could not parse: then st.login cannot work either)."""
    try:
        if not st.secrets.load_if_toml_exists():
            return None
        auth = st.secrets.get("auth")
    except Exception:  # Streamlit's own secrets errors; it logs them itself
        return None
    if auth is None:
        return None
    return auth.to_dict() if hasattr(auth, "to_dict") else auth


@dataclass(frozen=True)
class Viewer:
    """Who is looking, for the sidebar: the signed-in address, or how the page is open."""

    email: str | None = None
    public: bool = False  # beyond this machine without sign-in (--no-auth)
    unenforced: bool = False  # --no-auth while feeds.yaml names who may see it


# --------------------------------------------------------------------------------------------
# Before feeds.yaml is read: signed in, or the sign-in page


def require_sign_in(setup: Setup) -> None:
    """With sign-in on, stop here unless the visitor is signed in (nothing of feeds.yaml or
    the store has been read yet, so nothing of it can reach the page)."""
    if not setup.signing_in:
        return
    assert setup.sign_in is not None
    if setup.sign_in.problem:
        stop_page(
            f"**Sign-in is set up, but not completely**: {md(setup.sign_in.problem)} "
            "(in `.streamlit/secrets.toml`). "
            f"The dashboard shows nothing until it is fixed ({SETUP_HELP}).",
            icon=":material/lock:",
        )
    if not signed_in():
        sign_in_page(setup.sign_in)


def signed_in() -> bool:
    return st.user.get("is_logged_in") is True


def sign_in_page(sign_in: SignIn) -> None:
    st.title("Media monitor")
    st.markdown("Sign in to see this dashboard.")
    if link_query():
        st.caption("After signing in, you will see the view of the link you opened.")
    for provider in sign_in.providers:
        label = "Sign in" if provider == "default" else f"Sign in with {provider}"
        if st.button(label, key=f"_sign_in_{provider}", type="primary", icon=":material/login:"):
            remember_link()
            st.login(None if provider == "default" else provider)
    st.stop()


# --------------------------------------------------------------------------------------------
# Before the store is read: allowed, or a refusal


def admit(setup: Setup, config: Config) -> Viewer:
    """The viewer, if they may see the data; otherwise the page says why and stops."""
    allow = config.dashboard.allow
    if setup.signing_in:
        return admit_signed_in(allow)
    if setup.no_auth:
        return Viewer(public=setup.exposed, unenforced=allow is not None)
    if allow is not None:
        stop_page(
            "**Sign-in is not set up.** feeds.yaml names who may see this dashboard "
            "(`dashboard.allow`), but no sign-in provider is configured, so it shows nothing. "
            "Add an `[auth]` section to `.streamlit/secrets.toml` (`redirect_uri`, "
            "`cookie_secret`, `client_id`, `client_secret`, `server_metadata_url`; "
            f"{SETUP_HELP}), or start it with `--no-auth` to show it without sign-in.",
            icon=":material/lock:",
        )
    if setup.exposed:
        where = listening_on(setup)
        stop_page(
            f"**This dashboard listens on {where} without sign-in**, so it shows nothing. "
            "Set up sign-in (`[auth]` in `.streamlit/secrets.toml`, "
            f"{SETUP_HELP}), listen on 127.0.0.1 only, or start it with `--no-auth` to make "
            "it public on purpose.",
            icon=":material/lock:",
        )
    return Viewer()


def admit_signed_in(allow: tuple[str, ...] | None) -> Viewer:
    email = st.user.get("email")
    email = email.strip() if isinstance(email, str) and email.strip() else None
    if email is None:
        refuse(
            None,
            "Your sign-in gave no email address, so this dashboard cannot tell whether you "
            "may see it. The sign-in provider must send the `email` claim (scope "
            "`openid email profile`).",
        )
    assert email is not None
    if st.user.get("email_verified") in (False, "false", "False"):
        refuse(email, "Your sign-in provider says this email address is not verified.")
    if not allow:  # missing or empty: nobody (see the README)
        refuse(
            email,
            "Nobody may see this dashboard yet: the list of who may "
            "(`dashboard.allow` in feeds.yaml) is empty. Ask whoever runs it to add your "
            "address, or your whole domain (like `@example.org`).",
        )
    if not is_allowed(email, allow or ()):
        refuse(
            email,
            "This account may not see this dashboard. Ask whoever runs it to add your address "
            "to `dashboard.allow` in feeds.yaml, or sign out and sign in with another account.",
        )
    return Viewer(email=email)


def refuse(email: str | None, why: str) -> None:
    st.title("Media monitor")
    who = f"You are signed in as **{md(email)}**. " if email else ""
    st.error(f"{who}{why}", icon=":material/block:")
    sign_out_button()
    st.stop()


def stop_page(text: str, icon: str) -> None:
    st.title("Media monitor")
    st.error(text, icon=icon)
    st.stop()


def sign_out_button() -> None:
    if st.button("Sign out", key="_sign_out", icon=":material/logout:"):
        st.logout()


def listening_on(setup: Setup) -> str:
    address = (setup.address or "").replace("`", "")
    return f"`{address}`" if address else "every network interface"


def show_viewer(viewer: Viewer, setup: Setup) -> None:
    """The public-page note at the top, and who is signed in at the top of the sidebar."""
    if viewer.public:
        where = listening_on(setup)
        st.warning(
            f"**Public dashboard**: it listens on {where} without sign-in (started with "
            "`--no-auth`), so anyone who can reach this address sees everything here.",
            icon=":material/public:",
        )
    if viewer.email:
        with st.sidebar:
            st.caption(f"Signed in as **{md(viewer.email)}**")
            sign_out_button()
    elif viewer.unenforced:
        with st.sidebar:
            st.caption("Sign-in is off (`--no-auth`): `dashboard.allow` is not enforced.")


# --------------------------------------------------------------------------------------------
# A shared link survives signing in


class PendingLinks:
    """Query strings of links whose visitor clicked Sign in, by browser, for a while.
    Thread-safe: one instance serves every session."""

    def __init__(self, seconds: float = LINK_SECONDS, limit: int = MAX_LINKS):
        self.seconds, self.limit = seconds, limit
        self._links: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, key: str, query: str, now: float) -> None:
        with self._lock:
            self._links.pop(key, None)
            self._links[key] = (now + self.seconds, query[:MAX_QUERY])
            while len(self._links) > self.limit:
                self._links.popitem(last=False)

    def pop(self, key: str, now: float) -> str | None:
        with self._lock:
            while self._links:  # drop the expired (oldest first)
                oldest = next(iter(self._links))
                if self._links[oldest][0] > now:
                    break
                del self._links[oldest]
            found = self._links.pop(key, None)
        return found[1] if found else None


@st.cache_resource(show_spinner=False)
def pending_links() -> PendingLinks:
    return PendingLinks()


def browser_key(cookie: str | None) -> str | None:
    """A key for this browser from Streamlit's XSRF cookie: its token, which stays the same
    across page loads (the cookie itself is re-masked at each), hashed."""
    if not cookie:
        return None
    value = cookie.strip("\"'")
    try:
        if value.startswith("2|"):  # version 2: 2|mask|masked token|timestamp
            _, mask_hex, masked_hex, _ = value.split("|")
            mask, masked = bytes.fromhex(mask_hex), bytes.fromhex(masked_hex)
            if not mask or not masked:
                return None
            token = bytes(b ^ mask[i % len(mask)] for i, b in enumerate(masked))
        else:
            token = bytes.fromhex(value)
    except ValueError:
        return None
    return hashlib.sha256(token).hexdigest() if token else None


def link_query() -> str:
    """The page's query string as opened."""
    params = {k: st.query_params.get_all(k) for k in st.query_params}
    return urlencode(params, doseq=True)


def remember_link() -> None:
    query, key = link_query(), browser_key(st.context.cookies.get(XSRF_COOKIE))
    if query and key:
        pending_links().put(key, query, time.time())


def return_to_link(setup: Setup) -> None:
    """On a signed-in session's first run, opened on the bare home page (where the provider
    sends everyone back), go to the link remembered for this browser, if any."""
    if not setup.signing_in or "_link_returned" in st.session_state:
        return
    st.session_state["_link_returned"] = True
    key = browser_key(st.context.cookies.get(XSRF_COOKIE))
    query = pending_links().pop(key, time.time()) if key else None
    if query and not link_query():
        go_to("?" + query)


def go_to(url: str) -> None:
    """Send the browser to `url` (a query string of this page) and stop the run. This is the
    message st.login and st.logout send (`auth_redirect`): the browser opens the URL."""
    ctx = get_script_run_ctx()
    if ctx is None:
        return
    msg = ForwardMsg()
    msg.auth_redirect.url = url
    ctx.enqueue(msg)
    st.stop()
