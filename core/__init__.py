"""Shared foundations: settings, database, domain errors, tenancy and the event log."""
