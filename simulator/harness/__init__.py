"""Test harness: our own ESME client, a threaded server runner, scenarios and the pytest plugin."""
