// The server's syscall wrapper, the socket calls it shares with statefun-local
// and its nghttp2 session are StatefunSystem's (Sources/StatefunSystem), the one
// wall both use. Re-exported: every file of the server names them (SystemError,
// IOResult, errnoDescription, Posix, NGHTTP2Session) as its own, with no import.
@_exported public import StatefunSystem
