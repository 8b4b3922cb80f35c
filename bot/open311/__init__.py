"""Open311 GeoReport v2 (docs/reference.md §10): one more adapter on the same use cases — the city's
systems and reporting apps list services, file requests and follow them, in JSON and XML."""
