"""Simulated chargers without I/O: agents (protocol state machine + behaviour plan), fleet
building and sharding, ramps, reconnect delays, and the stats recorder. Runs on an injected clock.
"""
