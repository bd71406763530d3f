"""Thin HTTP adapters: parse, call the core, shape the reply. No SQL, no domain rules."""
