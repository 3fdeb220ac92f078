"""Reads, apart from the commands: the views and lists the API answers with.

Nothing here changes a row, except the medical access log a view with medical
details writes (PDPA: every such read is recorded)."""
