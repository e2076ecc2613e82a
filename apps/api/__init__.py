"""The REST surface: ``server.create_app()`` (app factory), dependencies, auth, middleware,
Prometheus metrics, offline API docs and the system routes (``/health``, ``/v1/impact``).

Nothing is imported here, so an app's router can import ``apps.api.deps`` without building the
server.
"""
