"""The Discover page: names in the articles that the watchlist does not cover (rising names),
with sample articles for the one chosen, and "watch this": an edit of feeds.yaml that adds it
to the watchlist, after which its mentions are counted over the whole stored history (by the
poller when one runs, else here; see actions.py).
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import timedelta

import pandas as pd
import streamlit as st

from monitor.errors import ConfigError, MonitorError
from monitor.models import ENTITY_KINDS
from monitor.queries import shift

from .. import actions
from ..cards import name_samples_html
from ..data import Context, get_store, q
from ..state import Selection, cli_command, jump, selected_rows
from ..widgets import code, csv_button, empty_state, fmt_count, fmt_time, md

MAX_NAMES = 50  # names listed
SAMPLES = 5  # sample articles of the chosen name


def render(ctx: Context, sel: Selection) -> None:
    st.subheader("Discover: rising names")
    show_outcome(ctx)
    f = sel.filters
    df = q("rising_names", ctx.snap, f, MAX_NAMES)
    st.caption(range_text(ctx, sel) + NAMES_NOTE)
    if df.empty:
        empty_state(
            "No names beyond the watchlist in this range. Try a longer range, or fewer filters."
        )
        return
    n = st.session_state.get("_disc_n", 0)
    table = pd.DataFrame(
        {
            "Name": df["name"],
            "Articles": df["articles"],
            "Previous": df["previous"],
            "Growth": df["growth"] * 100,
            "Mentioned with": df["with"].map(", ".join),
        }
    )
    st.dataframe(
        table,
        hide_index=True,
        key=f"disc_table_{n}",
        on_select=lambda: pick_name(df["name"].tolist(), f"disc_table_{n}"),
        selection_mode="single-row",
        height=min(38 + 35 * len(table), 420),
        placeholder="new",
        column_config={
            "Name": st.column_config.TextColumn(width="medium", pinned=True),
            "Articles": st.column_config.NumberColumn(
                format="localized", help="Articles naming it in the range"
            ),
            "Previous": st.column_config.NumberColumn(
                format="localized", help="Articles naming it in the range of the same length before"
            ),
            "Growth": st.column_config.NumberColumn(
                format="%+.0f%%", help="Articles against the previous range (new: none then)"
            ),
            "Mentioned with": st.column_config.TextColumn(
                width="large", help="The watched entities most often in the same articles"
            ),
        },
    )
    c1, c2, _ = st.columns([1, 2, 2])
    with c1:
        csv_button(df.assign(**{"with": df["with"].map("; ".join)}), "rising-names", "disc_csv")
    with c2:
        filtered = (
            " (the range only: no feed, search or entity filter)"
            if sel.feeds or sel.search or sel.chosen
            else ""
        )
        st.caption(f"In a terminal{filtered}: `{names_command(ctx, sel)}`")
    names = df["name"].tolist()
    chosen = st.selectbox(
        "Sample articles of",
        names,
        index=0,
        key="name",
        bind="query-params",
        help="Pick a row above, or a name here.",
    )
    asked = (st.session_state.get("_link") or {}).get("name")
    if asked and asked[-1] not in names and not st.session_state.get("_name_said"):
        st.session_state["_name_said"] = True
        st.info(
            f"The link's name “{md(asked[-1][:80])}” is not among the rising names of this "
            "range; showing the first.",
            icon=":material/link:",
        )
    if not chosen:
        return
    left, right = st.columns([3, 2], gap="large")
    with left:
        samples = q("name_articles", ctx.snap, f, [chosen], SAMPLES)
        st.markdown(f"**{md(chosen)}** in its {len(samples)} newest articles of the range")
        st.html(name_samples_html(chosen, samples.to_dict("records")))
    with right:
        watch_form(ctx, chosen)


NAMES_NOTE = (
    "Names in the articles (capitalised names of two words or more, and acronyms, folded like "
    "the matcher folds) that no watched name or alias covers, ranked by the articles naming "
    "them, new names first on ties. Previous: the range of the same length before; growth "
    "against it (blank: new). Pick a row to see its articles and to watch it."
)


def range_text(ctx: Context, sel: Selection) -> str:
    if sel.start is None and sel.end is None and ctx.last is not None:
        since = fmt_time(shift(ctx.last, -timedelta(days=7)), False)
        return f"Range “all”: the store's last 7 days (since {since}), as `monitor names` does. "
    return ""


def names_command(ctx: Context, sel: Selection) -> str:
    """`monitor names` for this range (it takes no feed, search or entity filter)."""
    plain = replace(sel, chosen=(), feeds=(), search="")
    return cli_command(ctx, plain, "names", entities=()) + f" --limit {MAX_NAMES}"


def pick_name(names: list[str], key: str) -> None:
    rows = selected_rows(key)
    if rows and rows[0] < len(names):
        st.session_state["name"] = names[rows[0]]
        st.session_state["_disc_n"] = st.session_state.get("_disc_n", 0) + 1


def guess_kind(name: str) -> str:
    """An acronym is most likely an organization, a name of several words a person."""
    letters = [c for c in name if c.isalpha()]
    return "organization" if letters and all(c.isupper() for c in letters) else "person"


# --------------------------------------------------------------------------------------------
# Watch this: an edit of feeds.yaml


def watch_form(ctx: Context, chosen: str) -> None:
    path = ctx.config.path
    problem = actions.edit_problem(ctx.config, ctx.public)
    st.markdown("**Watch this name** · an edit of feeds.yaml")
    key = hashlib.sha1(chosen.encode()).hexdigest()[:12]
    with st.form(f"watch_{key}", border=True):
        name = st.text_input("Name", value=chosen, max_chars=200, help="Correct it if needed.")
        kind = st.selectbox("Kind", ENTITY_KINDS, index=ENTITY_KINDS.index(guess_kind(chosen)))
        st.caption(
            f"Adds it under `watch:` in {code(str(path))} (comments and layout kept; the file "
            "is checked after the edit and put back if it no longer loads). Then its mentions "
            f"are counted in all {fmt_count(ctx.snap.rows('articles'))} stored articles, so "
            f"its timeline starts from the first one. {recount_text(ctx)}"
        )
        submitted = st.form_submit_button(
            "Add to the watchlist",
            type="primary",
            icon=":material/edit_note:",
            disabled=bool(problem),
        )
    if problem:
        st.warning(
            f"This dashboard cannot edit {code(str(path))}: {md(problem)}. Add the name by hand "
            "under `watch:` (`- name: …` and `kind: …`).",
            icon=":material/lock:",
        )
        return
    if submitted:
        add_name(ctx, name, kind)


def recount_text(ctx: Context) -> str:
    if get_store(str(ctx.config.store)).poller_running():
        return (
            "A poller is running: it rereads feeds.yaml between polls (at least once a "
            "minute) and recounts by itself."
        )
    return (
        "No poller is running: the dashboard recounts, in the background (a few seconds per "
        "100,000 articles), with its progress at the top of every page."
    )


def add_name(ctx: Context, name: str, kind: str) -> None:
    problem = actions.edit_problem(ctx.config, ctx.public)  # checked again: the button is
    if problem:  # disabled in the browser, but the server decides
        st.error(f"This dashboard cannot edit feeds.yaml: {md(problem)}.")
        return
    try:
        entity = actions.watch(ctx.config, name, kind)
    except ConfigError as exc:
        for issue in exc.issues:
            st.error(str(issue), icon=":material/error:")
        return
    except MonitorError as exc:
        st.error(str(exc), icon=":material/error:")
        return
    done = f"Added **{md(entity.name)}** ({entity.kind}) to the watchlist in feeds.yaml."
    if get_store(str(ctx.config.store)).poller_running():
        outcome = (
            "info",
            done + " The running poller rereads the file between polls (at least once a "
            "minute) and then counts its mentions over the whole stored history; the pages "
            "update by themselves.",
        )
    else:
        actions.start_recount(ctx.config)
        outcome = ("counting", done)
    st.session_state["_watched"] = (*outcome, entity.name)
    st.rerun()


def show_outcome(ctx: Context) -> None:
    """What the last "watch this" did, until dismissed, with a way to its timeline."""
    outcome = st.session_state.get("_watched")
    if not outcome:
        return
    level, text, name = outcome
    if level == "counting":
        job = actions.recount_job(ctx.config)
        if job is not None and job.running:
            st.info(text + " Counting its mentions in the stored articles (progress above).")
            return
        if job is None or job.error:
            error = job.error if job else "the count did not run"
            level, text = (
                "warning",
                text + f" The store could not be recounted: {md(error)}. Count it from the "
                "note above, run `monitor rematch`, or start the poller (it recounts when it "
                "opens the store).",
            )
        else:
            n = job.result.articles if job.result else ctx.snap.rows("articles")
            level, text = (
                "success",
                text + f" Its mentions were counted in all {fmt_count(n)} stored articles "
                f"({job.seconds:.1f} s).",
            )
        st.session_state["_watched"] = (level, text, name)
    {"success": st.success, "info": st.info, "warning": st.warning}[level](text)
    c1, c2, _ = st.columns([1.3, 1, 3])
    c1.button(
        "Open its timeline",
        key="_watched_open",
        icon=":material/timeline:",
        on_click=open_timeline,
        args=(name,),
    )
    c2.button("Dismiss", key="_watched_dismiss", type="tertiary", on_click=dismiss)


def open_timeline(name: str) -> None:
    st.session_state["_watched"] = None
    jump(e=[name], kind=[], view="timeline", range="all", page=1)


def dismiss() -> None:
    st.session_state["_watched"] = None
