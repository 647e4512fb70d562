"""One module per card topic (or family of topics): each registers its rule on import.

:func:`cds_service.clinical.registry.registered_rules` imports every module here, so adding a
topic's module is enough for the engine to run it.
"""
