"""Warehouse access: the embedded default server, connections, the raw schema and the point-in-time loader."""
