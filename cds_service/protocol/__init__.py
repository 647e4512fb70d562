"""CDS Hooks wire format: service definitions, envelope models, limits, data gathering.

Nothing here knows about clinical rules; the web layer hands what this package gathers to
:mod:`cds_service.pipeline`.
"""
