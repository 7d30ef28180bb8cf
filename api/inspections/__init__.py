"""Inspection support: plans, visits, findings, evidence collected on site and the unit dossier."""
