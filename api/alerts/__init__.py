"""Alert triage: the queue (search, facets, sorting, deep paging), the detail view, and every change."""
