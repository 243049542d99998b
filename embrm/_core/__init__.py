"""The foundation every embrm package builds on: atomic file writes (``files``), input checks
(``validation``), grouping by prompt (``groups``), text helpers (``text``), where a warning
points (``stack``) and optional imports with the deprecation shims of renamed names
(``compat``).

Internal to embrm: its packages and the project's scripts import these modules; users import
what the packages export.
"""
