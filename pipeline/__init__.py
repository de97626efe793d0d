"""Thin Typer commands, one per DVC stage: paths, params and I/O around the `diffurec` package."""
