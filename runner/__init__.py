"""Run directories, worker pools and the NAS search loop."""
