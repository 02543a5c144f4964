"""Composition root: the `safehold` command, the flow runner and the process tree."""
