"""Virtual API keys: settings, secrets, the key store and its cached lookup."""
