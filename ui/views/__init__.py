"""One view-model per page: Scenario (+ catalog) -> every figure the page shows, built in one place.

The page, Home and the stakeholder report render the same object, so they cannot disagree. Calculator calls of the
pages live here (and only here), one module per page.
"""
