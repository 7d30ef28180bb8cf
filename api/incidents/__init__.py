"""Incidents (sự cố): alerts grouped into one case, with owner, units, systems and a timeline."""
