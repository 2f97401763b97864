"""Task bodies of the DAGs: each function does the I/O around one pure component (one or two calls per task)."""
