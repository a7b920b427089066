"""The reports: what the published warehouse says, as library functions the CLI, the dashboard and the
exports call. ``bill`` (the monthly bill, exact to the cent), ``checks`` (the invariants), ``capacity``,
``quotas`` and ``rightsize``; every query they run is in ``queries``."""
