"""Alignment methods: one small file each, registered with `bench.registry.method`."""
