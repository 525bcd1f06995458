"""The supervisors' and auditors' web page: static HTML over the same REST API and API keys."""
