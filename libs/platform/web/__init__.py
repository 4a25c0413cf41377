"""The HTTP surface: the service factory, auth, dependencies, problems, the edge, metrics and ops routes."""
