"""Views of the stats snapshots: the JSON run report and the summary table."""
