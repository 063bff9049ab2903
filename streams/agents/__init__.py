"""Thin Faust agents: each reads one topic, calls a pure core, writes the next topic."""
