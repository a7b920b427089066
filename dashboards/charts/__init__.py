"""Figures, table shapes and page summaries for the dashboard, one module per page family.

Pure functions: a polars frame (from ``dashboards.data``) or a report object in, a plotly figure, a
display-ready polars frame, a column config or a few numbers out. No queries, no Streamlit state, so they
are easy to test and the pages stay a list of widgets.

- ``common``: money formatting, labels and colours shared by every page, the total row, the empty figure;
- ``bills``: the overview and the tenant bill (bill lines, daily trend, month over month, the drill-down);
- ``jobs``: EMR on EKS job runs;
- ``nodes``: node groups, idle, sole-tenancy nodes;
- ``quality``: the checks, CUR against Cost Explorer, collector coverage;
- ``reconcile``: the waterfall from the CUR to the bill, AWS's split against this allocation;
- ``capacity``: quotas, node-group capacity, the forecast, the tenancy what-if, right-sizing.

Import each from where it lives (``from dashboards.charts import bills``); this package re-exports nothing.
"""
