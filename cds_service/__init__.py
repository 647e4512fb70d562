"""Natalizumab CDS Hooks service.

Layers (each knows only the one below it): protocol -> record -> clinical -> cards.
See ../shared/design.md for the intended architecture.
"""

__version__ = "0.1.0"
