"""Load and latency benchmarks: the CDS service vs a bare-ASGI limit and a HealthChain peer."""
