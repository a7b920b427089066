"""EMR jobs: cost per job run and per virtual cluster, the most expensive runs, a recurring job over time,
the EMR charge against compute, and executors' requested against used resources."""

from __future__ import annotations

import streamlit as st

from dashboards import state
from dashboards.charts import jobs as job_charts
from dashboards.charts.common import money, money_columns

view = state.view()
cur = view.currency
jobs = view.emr_jobs(view.tenant)

st.title(f"EMR jobs · {view.period}")
st.caption(f"{view.cluster or 'All clusters'} · {view.tenant or 'all tenants you may see'}")
state.method_caption(view)
if jobs.is_empty():
    st.info(
        f"No EMR on EKS job runs in {view.period} for this selection. If Spark runs here, run "
        "`chargeback collect --source emr` (then `chargeback build`) to fetch the job runs."
    )
    st.stop()

totals = job_charts.totals(jobs)
columns = st.columns(4)
columns[0].metric("Job runs", f"{totals['runs']:,}", border=True)
columns[1].metric("Total cost", money(totals["total"], cur), border=True)
columns[2].metric("EMR charges", money(totals["emr"], cur), border=True)
columns[3].metric("Compute and idle", money(totals["compute_and_idle"], cur), border=True)
st.caption(
    "What the bill charges for each run: its pods' compute and idle share, in the cents of the tenant's drill-down "
    "on Tenant bill, its pods' data transfer, the storage of the claims they mount (Spark's shuffle volumes) and its "
    "EMR charges. With the tenant's other workloads they add up to its bill parts, to the cent (In the bill, below)."
)

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
left, right = st.columns(2)
with left:
    st.plotly_chart(job_charts.virtual_cluster_costs(jobs, cur), key="virtual_clusters")
with right:
    st.plotly_chart(job_charts.top_jobs(jobs, cur), key="top_jobs")
st.dataframe(
    job_charts.by_virtual_cluster(jobs),
    hide_index=True,
    column_config={"virtual_cluster": "Virtual cluster", "tenant": "Tenant", "job_runs": "Job runs", **money_cols},
)

st.subheader("In the bill")
st.dataframe(
    job_charts.in_the_bill(jobs, view.bill(view.tenant)),
    hide_index=True,
    column_config={"tenant": "Tenant", "job_runs": "Job runs", **money_columns(job_charts.IN_THE_BILL_COLUMNS, cur)},
)

st.subheader("A recurring job over time")
names = job_charts.job_names(jobs)
if not names:
    st.info("No job run carries a job name.")
else:
    job_name = st.selectbox("Job name", list(names), format_func=lambda n: f"{n} ({names[n]} runs)")
    st.plotly_chart(job_charts.job_cost_over_time(jobs, job_name, cur), key="job_over_time")

left, right = st.columns(2)
with left:
    st.plotly_chart(job_charts.emr_against_compute(jobs, cur), key="emr_vs_compute")
with right:
    st.plotly_chart(job_charts.requested_vs_used(jobs), key="requested_vs_used")

st.subheader("Job runs")
st.dataframe(
    job_charts.jobs_table(jobs),
    hide_index=True,
    column_config={
        "job_run_id": "Job run",
        "job_name": "Job",
        "virtual_cluster_name": "Virtual cluster",
        "tenant": "Tenant",
        "state": "State",
        "created_at": st.column_config.DatetimeColumn("Started", format="YYYY-MM-DD HH:mm"),
        "duration_min": st.column_config.NumberColumn("Minutes", format="%.0f"),
        "executor_instances": "Executors",
        "cpu_used_share": st.column_config.NumberColumn("Executor CPU used", format="percent"),
        **money_cols,
    },
)
st.caption(f"{totals['runs']:,} runs · total {money(totals['total'], cur)} · click a column header to sort")
