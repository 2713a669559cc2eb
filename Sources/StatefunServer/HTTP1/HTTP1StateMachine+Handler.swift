// The state machine as its driver (HTTP1Driver) feeds it: the
// connection-handler interface both protocols share (Connection/ConnectionHandler.swift).

extension HTTP1StateMachine: ConnectionHandler {
    mutating func beginDrain(now: UInt64) { beginDrain() }
}
