"""The chat domain: rules and use cases. Standard library only: no web framework, no SQL driver."""
