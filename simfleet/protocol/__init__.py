"""Sans-I/O OCPP-J: frames, RPC sessions, error codes, one sub-package per OCPP version.

Nothing in this package opens a socket, reads a clock or touches an event loop: bytes and
numbers (the current time, deadlines) go in, bytes and events come out.
"""
