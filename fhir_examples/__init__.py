"""Realistic CDS Hooks requests (templates with relative dates) and their expected card topics.

See ``README.md`` in this directory; ``render.py`` turns a template into a concrete request.
"""
