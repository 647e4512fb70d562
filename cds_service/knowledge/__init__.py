"""Clinical knowledge as reviewable data: value sets, thresholds, risk tables, sources.

Informaticists edit the JSON beside this file; Python only loads and checks it.
"""
