"""The base every other layer stands on: configuration, errors, money, periods, AWS sessions, HTTP retries,
locks and cron expressions. Nothing here imports any other part of chargeback (see docs/architecture.md)."""
