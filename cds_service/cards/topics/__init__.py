"""One module per card topic (or family of topics): each registers its card text on import.

:func:`cds_service.cards.registry.registered_texts` imports every module here.
"""
