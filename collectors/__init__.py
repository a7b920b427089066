"""Collectors: one module per source, each yielding Arrow batches for one raw table.

`collectors.schemas` is the contract between collection and modelling: every raw table a
collector lands, and every table the sample month ships, has exactly the schema declared there.
"""
