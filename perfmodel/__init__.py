"""perfmodel: a discrete-event performance model of Linux zswap."""
