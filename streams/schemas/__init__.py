"""The JSON Schemas of every message type, shipped inside the package (the top-level `schemas/` points here)."""
