"""Small typed factories for test inputs, one module per domain."""
