"""Local inference: hardware, tiers, catalog, recommendations, the llamacpp provider."""
