"""Local inference: hardware detection and tiers, the model catalog, recommendations.

Submodules are imported where they are used; this package imports nothing heavy.
"""
