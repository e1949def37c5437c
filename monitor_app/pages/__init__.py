"""The dashboard's pages, one module each, each with `render(ctx, sel)`.

A page reads the `Selection`, asks `monitor.queries` (through `data.q`) for frames and draws
them with the shared widgets. A page never imports another page; what two pages share lives in
state.py, data.py, cards.py or widgets.py.
"""
