"""The raw-table contract: every source stream as a raw table under ``<data_dir>/raw`` (``tables``), written
atomically (``landing``), filled by running the sources day by day or period by period (``collect``), with
what is collected and missing (``status``). The collection and the build both read it; see
docs/architecture.md."""
