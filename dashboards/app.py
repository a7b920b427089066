"""The chargeback dashboard: `chargeback dashboard` (or `streamlit run dashboards/app.py`).

This file only wires things: who is looking, the pages in their sections, the sidebar filters.
Pages read through ``dashboards.state.View`` (cached calls into ``dashboards.data``) and draw with
``dashboards.charts``.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboards import runtime, state

VIEWS = Path(__file__).resolve().parent / "views"
# section -> (file in views/, title, icon, URL path). The folder is not called `pages/`: beside the main
# script that name switches Streamlit to its old folder-based navigation, where an address naming a file
# would run that page alone (no identity check, no sidebar).
SECTIONS = {
    "Costs": [
        ("overview.py", "Overview", ":material/dashboard:", "summary"),
        ("tenant_bill.py", "Tenant bill", ":material/receipt_long:", "bill"),
        ("explore.py", "Explore", ":material/query_stats:", "explore"),
    ],
    "Workloads": [
        ("emr_jobs.py", "EMR jobs", ":material/bolt:", "emr"),
        ("nodes.py", "Nodes and idle", ":material/dns:", "nodes-and-idle"),
        ("capacity.py", "Capacity and quotas", ":material/speed:", "capacity"),
    ],
    "Data": [
        ("data_quality.py", "Data quality", ":material/fact_check:", "quality"),
    ],
}


def access_denied() -> None:
    st.title("Access denied")
    st.error(
        "This dashboard does not know who you are, or your groups map to no tenant, so it shows no data. "
        "Sign in through the company proxy; if you still see this, ask the platform team to map one of "
        "your groups to your tenant (`[dashboard.tenant_groups]`).",
        icon=":material/block:",
    )


def denied_everywhere() -> list[st.Page]:
    """The access-denied page at every address, so a shared link says "denied", not "page not found"."""
    paths = [path for pages in SECTIONS.values() for *_, path in pages]
    return [
        st.Page(
            access_denied,
            title="Access denied",
            icon=":material/block:",
            url_path=path,
            default=first,
            visibility="visible" if first else "hidden",
        )
        for first, path in zip([True] + [False] * (len(paths) - 1), paths, strict=True)
    ]


st.set_page_config(page_title="Chargeback", page_icon=":material/account_balance:", layout="wide")
viewer = runtime.viewer()

if state.no_access(viewer):
    st.navigation(denied_everywhere()).run()
    st.stop()

page = st.navigation(
    {
        section: [
            st.Page(VIEWS / file, title=title, icon=icon, url_path=path, default=(file == "overview.py"))
            for file, title, icon, path in pages
        ]
        for section, pages in SECTIONS.items()
    }
)
if state.sidebar(runtime.warehouse(), viewer) is not None:
    page.run()
