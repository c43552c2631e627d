"""Rate limits, token limits, budgets and concurrency: rules, stores, the limiter."""
