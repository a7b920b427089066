"""The build: the SQL models (``models/``, found and ordered by ``runner``) run by an engine (``engines``:
DuckDB on this machine, or Spark), incremental by day (``incremental``), checked and published atomically as
the warehouse readers open (``warehouse``). See docs/architecture.md."""
