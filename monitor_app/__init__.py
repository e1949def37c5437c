"""The Streamlit dashboard as a package: `dashboard.py` runs `monitor_app.app.main()`.

    app.py        the frame and router: config, store, context, sidebar, header, notices, and
                  the page named by `?view=` (one tab per page, bound to the URL)
    state.py      the view in the URL: the link's parameters checked, the sidebar's filters,
                  the `Selection`, the chart controls, jumps between pages, the CLI command
    data.py       loading (feeds.yaml, the store, the matcher), cached queries, the `Context`
    widgets.py    shared widgets and charts: palette, figure style, CSV button, formatting
    cards.py      the article cards: the one place where feed text becomes HTML (escaped)
    pages/        one module per page, each with `render(ctx, sel)`; a page never imports
                  another page

What it leaves to others: counting and filtering (monitor/queries.py), the store
(monitor/store.py), reading feeds.yaml (monitor/config.py), the counting rules (monitor/match.py).
"""
