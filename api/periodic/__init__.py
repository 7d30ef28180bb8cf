"""Periodic reports (issue 16): the weekly and monthly report to the Cybersecurity Subcommittee.

`periods` says which calendar week or month a report covers (Vietnamese days); `content` gathers
the figures from the store once; `document` lays them out as the official PDF and DOCX (the
dossier's layout, `api.inspections.export`); `archive` keeps the files and their record; `service`
generates what is due and says what is still to be mailed; `routes` lists, downloads and
generates on demand. Mailing is the composition root's (`socpipe.jobs`): the API imports no
channel adapter.
"""
