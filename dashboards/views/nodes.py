"""Nodes and idle: node-hours by node group and purchase option, idle cost by node group, sole-tenancy
nodes with their ghost hours, and other tenants' pods on dedicated nodes."""

from __future__ import annotations

import streamlit as st

from dashboards import state
from dashboards.charts import nodes as node_charts
from dashboards.charts import reconcile as waterfall_charts
from dashboards.charts.common import money, money_columns, with_total

view = state.view()
cur = view.currency
money_cols = money_columns({"cost": "Cost", "idle": "Idle"}, cur)
hours = st.column_config.NumberColumn("Node-hours", format="%.1f")

st.title(f"Nodes and idle · {view.period}")
st.caption(view.cluster or "All clusters")
state.method_caption(view)

st.header("Node groups")
st.caption(
    "Not billed as shown: *Cost* is the nodes' in-scope cost before the split (what the CUR charged for the "
    "instances and their volumes), *Idle* their unused capacity's cost before it is shared. The bill splits each "
    "node-hour's cost among its pods as *Compute*; the idle mode hands the unused part to tenants as *Idle share*, "
    "and only what no tenant takes stays on the Overview's *Idle (unshared)* line (the method's Split cost and "
    "Idle modes sections say how)."
)
if view.viewer.sees_everything:
    rec = state.waterfall(view)
    if rec is not None:
        node_cost, node_idle = rec.figure("node_cost"), rec.figure("node_idle")
        columns = st.columns(2)
        columns[0].metric(
            "Node cost",
            money(node_cost.amount, cur),
            help="The reconciliation's rows Nodes + Node volumes + Estimated (Data quality, From the CUR to the bill).",
            border=True,
        )
        columns[1].metric(
            "Idle (unused, before sharing)",
            money(node_idle.amount, cur),
            help="Of the node cost, the unused capacity; how it reaches the bill's idle and shared parts is below.",
            border=True,
        )
        st.caption(
            f"*Node cost* {waterfall_charts.explained(node_cost, cur)}. *Idle*"
            f" {waterfall_charts.explained(node_idle, cur)}."
        )
        state.reconciliation_link(view, "The rows behind these figures: from the CUR to the bill")
    groups = view.node_groups()
    if groups.is_empty():
        st.info(
            "No node-hours for this selection: run `chargeback collect --source prometheus`, then `chargeback build`."
        )
    else:
        left, right = st.columns(2)
        with left:
            st.plotly_chart(node_charts.node_hours_by_group(groups), key="node_hours")
        with right:
            st.plotly_chart(node_charts.idle_by_group(groups, cur), key="idle_by_group")
        st.dataframe(
            node_charts.node_groups_table(groups),
            hide_index=True,
            column_config={
                "node_group": "Node group",
                "purchase_option": "Purchase option",
                "node_hours": hours,
                **money_cols,
                "idle_share": st.column_config.NumberColumn("Idle share", format="percent"),
            },
        )
else:
    state.all_access_note("Node groups of shared nodes")

st.header("Sole-tenancy nodes")
st.caption(
    "A dedicated node's cost before the split: its tenant's bill holds it as the compute of its pods there and, "
    "for the rest (ghost hours included), as idle share. Other tenants' pods on it are costed below and paid by the "
    "node's tenant."
)
nodes = view.dedicated_nodes()
if nodes.is_empty():
    st.info("No dedicated nodes in this selection (nodes carry a tenant label or tag when they are dedicated).")
else:
    st.plotly_chart(node_charts.ghost_hours(nodes), key="ghost_hours")
    st.dataframe(
        with_total(nodes, "tenant"),
        hide_index=True,
        column_config={
            "tenant": "Tenant",
            "node": "Node",
            "instance_type": "Instance type",
            "node_hours": hours,
            "ghost_hours": st.column_config.NumberColumn("Ghost hours", help="hours with no pod of the node's tenant"),
            "cross_tenant_pod_hours": st.column_config.NumberColumn("Other tenants' pod-hours"),
            **money_cols,
        },
    )

st.subheader("Other tenants' pods on dedicated nodes")
pods = view.cross_tenant_pods()
if pods.is_empty():
    st.success("No pod of another tenant ran on a dedicated node.")
else:
    st.dataframe(
        with_total(pods, "node_tenant"),
        hide_index=True,
        column_config={
            "node_tenant": "Node's tenant (pays)",
            "pod_tenant": "Pod's tenant",
            "namespace": "Namespace",
            "pod": "Pod",
            "node": "Node",
            "pod_hours": "Pod-hours",
            **money_cols,
        },
    )
