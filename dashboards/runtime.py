"""How the Streamlit app finds its configuration and its viewer (the only Streamlit-aware glue).

`chargeback dashboard` starts ``streamlit run dashboards/app.py`` with ``CHARGEBACK_CONFIG`` (the
config file, if any) and ``CHARGEBACK_DATA_DIR`` (the data directory) in the environment; without the
first, the configuration is found as the CLI finds it (``chargeback.core.config.discover``).
"""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from chargeback.core import config as config_module
from dashboards.data import Warehouse
from dashboards.identity import Viewer, alb_key_lookup, resolve

DATA_DIR_ENV = "CHARGEBACK_DATA_DIR"


@st.cache_resource
def settings() -> config_module.Config:
    """The configuration, read once per server process."""
    data_dir = os.environ.get(DATA_DIR_ENV)
    return config_module.load(None, Path(data_dir) if data_dir else None)


def warehouse() -> Warehouse:
    return Warehouse(settings())


@st.cache_resource
def _alb_keys():
    return alb_key_lookup(settings().dashboard)


def viewer() -> Viewer:
    """This session's viewer, from the request headers the proxy set (as the config says it does)."""
    dashboard = settings().dashboard
    headers = dict(st.context.headers) if st.context.headers is not None else {}
    keys = _alb_keys() if dashboard.identity == "alb" else None
    return resolve(headers, dashboard, keys)
