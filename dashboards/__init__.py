"""The Streamlit dashboard (a later issue): pages, a data-access module and chart builders."""
