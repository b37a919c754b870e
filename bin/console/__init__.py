"""The web console: people, roles, approvals and the timelines in a browser (`renkei serve`).

A Starlette app with Jinja2 templates, served by uvicorn on 127.0.0.1 by default. Every page and action
goes through the engine's services (pipelines/people.py, the Store's operator calls, the Engine), the same
ones the CLI uses; authorisation is declared per route with the permission it needs.
"""

from renkei.bin.console.app import ConsoleSettings, build_app

__all__ = ["ConsoleSettings", "build_app"]
