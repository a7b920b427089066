"""Build engines other than DuckDB. The models stay DuckDB SQL files; an engine translates them."""
