"""The only home of asyncio, uvloop and websockets: it pumps bytes between sockets and agents.

Layout: `scheduler` (one timer heap for every charger of a process), `transport` (websocket
options, sending without a task per message), `connection` (one charger's connect/receive loop),
`worker` (a worker process), `supervisor` (the parent side of worker processes),
`csms_server` (the embedded CSMS).
"""
