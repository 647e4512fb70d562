"""Decision audit: which cards were shown, and how feedback on them adds up (contract section 4).

Nothing here holds patient data: a call is recorded by time, service id, ``hookInstance`` and
knowledge version; a card by its ``uuid``, topic and indicator.
"""
