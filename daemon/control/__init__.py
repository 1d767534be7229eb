"""The control adapter: the daemon's IPC methods (docs/ipc.md) mapped onto the engine.

The IPC package knows sockets and framing but not the engine; the engine knows sync but not sockets; this
package is the only place that knows both.
"""
