"""Real-time delivery: brokers that say "something new", the hub of this process's streams,
and each stream's session (catch up from the log, then follow it live)."""
