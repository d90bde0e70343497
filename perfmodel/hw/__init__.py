"""Physical parts: CPUs, NUMA nodes, compressors, swap devices."""
