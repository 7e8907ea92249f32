"""Quality management over a period (issue 11): session outcomes across boards, indicators, the dashboard."""
