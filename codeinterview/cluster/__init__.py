"""Several server nodes sharing live sessions through Redis (only when REDIS_URL is set)."""
