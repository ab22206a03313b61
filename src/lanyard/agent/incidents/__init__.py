"""Incident records, as the seeds' Code of Conduct teams keep them, encrypted at rest."""
