"""Toxiproxy, the one thing every link passes: the admin client (one per server, every call
timed out, bulk calls pipelined) and the server process (found, built, started, stopped)."""
