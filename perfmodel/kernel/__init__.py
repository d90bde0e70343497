"""Kernel mechanisms: zswap, zpool allocators, reclaim, LRU, swap slots."""
