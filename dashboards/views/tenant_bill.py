"""Tenant bill: one tenant's month as finance sends it, its CSV (exactly `chargeback bill`), and where the
compute went: namespace -> workload -> EMR job run."""

from __future__ import annotations

import streamlit as st

from dashboards import state
from dashboards.charts import bills
from dashboards.charts.common import money, money_column, money_columns

view = state.view()
cur = view.currency
cluster_label = f" --cluster {view.cluster}" if view.cluster else ""

if view.tenant is None:
    st.title(f"Bills · {view.period}")
    state.method_caption(view)
    st.info("Choose a tenant in the sidebar for its bill and the drill-down to workloads and job runs.")
    bill = view.bill()
    state.cur_notice(bill, cur)
    st.metric("Total billed", money(bill.total, cur))
    st.dataframe(
        bills.bill_lines_table(bills.bill_frame(bill)),
        hide_index=True,
        column_config={"line": "Line", **money_columns(bills.bill_columns(bill), cur)},
    )
    st.download_button(
        "Download CSV",
        bill.to_csv(),
        file_name=f"chargeback-{view.period}.csv",
        mime="text/csv",
        on_click="ignore",
        icon=":material/download:",
        help=f"The same file as `chargeback bill --period {view.period}{cluster_label} --format csv`",
    )
    st.stop()

tenant = view.tenant
bill = view.bill(tenant)
st.title(f"Bill · {tenant} · {view.period}")
st.caption(view.cluster or "All clusters")
state.method_caption(view)
state.cur_notice(bill, cur)
if not bill.lines:
    st.info(f"{tenant} has no costs in {view.period}{f' on {view.cluster}' if view.cluster else ''}.")
    st.stop()
line = bill.lines[0]

left, right = st.columns([2, 3])
with left:
    st.metric(f"{tenant} total", money(bill.total, cur), border=True)
    st.dataframe(
        bills.bill_parts_table(line.parts, line.total),
        hide_index=True,
        column_config={"item": "Line", "amount": money_column("Amount", cur)},
    )
    st.download_button(
        "Download CSV",
        bill.to_csv(),
        file_name=f"chargeback-{view.period}-{tenant}.csv",
        mime="text/csv",
        on_click="ignore",
        icon=":material/download:",
        help=f"The same file as `chargeback bill --period {view.period} --tenant {tenant}{cluster_label} --format csv`",
    )
with right:
    st.plotly_chart(bills.bill_parts(line.parts, cur), key="bill_parts")

if view.cluster is None:
    split = view.by_cluster(tenant)
    if split["cluster"].n_unique() > 1:
        st.subheader("By cluster")
        st.caption(
            f"{tenant}'s bill split over the clusters its money comes from, in cents that add up to each part "
            f"(`chargeback bill --period {view.period} --by-cluster`). The cluster filter shows one cluster's own "
            "bill, rounded on its own: a line there can differ from its share here by a cent."
        )
        parts = [c for c in split.columns if c not in ("tenant", "cluster") and (c == "total" or (split[c] != 0).any())]
        st.dataframe(
            split.select("cluster", *parts),
            hide_index=True,
            column_config={"cluster": "Cluster", **money_columns({p: p.capitalize() for p in parts}, cur)},
        )

usage = view.efficiency(tenant, "namespace")
if not usage.is_empty():
    st.subheader("Efficiency")
    st.caption(
        f"{tenant}'s namespaces: CPU and memory used over requested, and what unused requests cost of their compute"
        f" (`chargeback efficiency --period {view.period} --by namespace --tenant {tenant}`; `--by workload` for"
        " its workloads)."
    )
    state.efficiency_table(usage.drop("tenant"), cur, {"namespace": "Namespace"})

anomalous = view.anomalies(tenant)
if not anomalous.is_empty():
    st.subheader("Anomalous days")
    st.caption(
        f"Days of {view.period} whose cost, for {tenant} or one of its namespaces, was far from the same weekday of"
        " the weeks before (`chargeback anomalies`): a spike, or a drop (often a collection that stopped)."
    )
    st.dataframe(
        anomalous.drop("tenant"),
        hide_index=True,
        column_config={
            "date": "Day",
            "cluster": "Cluster",
            "namespace": "Namespace",
            **money_columns({"cost": "Cost", "baseline": "Usual (same weekday)"}, cur),
            "score": st.column_config.NumberColumn("Score", format="%+.1f"),
            "direction": "Kind",
        },
    )

st.header("Drill-down")
st.caption(
    f"{tenant}'s compute ({money(line.parts.get('compute', 0), cur)}), idle share "
    f"({money(line.parts.get('idle', 0), cur)}), storage ({money(line.parts.get('storage', 0), cur)}) and network "
    f"({money(line.parts.get('network', 0), cur)}) on the bill, by namespace, workload (Deployment, StatefulSet, "
    "Spark application) and EMR job run, in cents that add up level by level to the bill's figures. A volume goes "
    "to the workloads whose pods mounted its claim that day, a pod's data transfer to its workload; a namespace's "
    "volumes no pod mounted and its load balancers are the namespace's own. Its other parts (shared share, EMR "
    "charges, tagged resources) are charged to the tenant as a whole."
)
workloads = view.workloads(tenant)
if workloads.is_empty():
    st.info(f"No pods of {tenant} ran in {view.period}: its bill holds only tenant-level lines.")
    st.stop()
st.plotly_chart(bills.drilldown(workloads, tenant, cur), key="drilldown")

money_cols = money_columns(
    {
        "compute": "Compute",
        "idle": "Idle share",
        "storage": "Storage",
        "network": "Network",
        "emr": "EMR",
        "total": "Total",
    },
    cur,
)
hours = {"pod_hours": st.column_config.NumberColumn("Pod-hours", format="%.1f")}
st.subheader("Namespaces")
st.dataframe(
    bills.namespaces_table(workloads),
    hide_index=True,
    column_config={"namespace": "Namespace", "workloads": "Workloads", **hours, **money_cols},
)

namespaces = bills.namespaces(workloads)
# the drill-down's choices are in the address too (?namespace=…&workload=…): a link opens the same drill-down
namespace = state.url_widget(
    "namespace", st.selectbox, "Namespace", namespaces, placeholder="Pick a namespace to see its workloads",
    decode=lambda t: t if t in namespaces else None,
)  # fmt: skip
if namespace is None:
    st.query_params.pop("workload", None)
else:
    st.subheader(f"Workloads in {namespace}")
    st.dataframe(
        bills.workloads_table(workloads, namespace),
        hide_index=True,
        column_config={
            "workload_kind": "Kind",
            "workload_name": "Workload",
            "job_runs": "Job runs",
            "pods": "Pods",
            **hours,
            **money_cols,
        },
    )
    spark = bills.spark_applications(workloads, namespace)
    if not spark:
        st.query_params.pop("workload", None)
    else:
        workload = state.url_widget(
            "workload", st.selectbox, "Spark application", spark, placeholder="Pick one to see its job runs",
            decode=lambda t: t if t in spark else None,
        )  # fmt: skip
        if workload is not None:
            st.subheader(f"Job runs of {workload}")
            st.dataframe(
                bills.job_runs_table(workloads, view.emr_jobs(tenant), namespace, workload),
                hide_index=True,
                column_config={
                    "job_run_id": "Job run",
                    "state": "State",
                    "created_at": st.column_config.DatetimeColumn("Started", format="YYYY-MM-DD HH:mm"),
                    "finished_at": st.column_config.DatetimeColumn("Finished", format="YYYY-MM-DD HH:mm"),
                    "pod_count": "Pods",
                    **money_cols,
                },
            )
