// How a session starts: its role, the options nghttp2 enforces itself, and
// the SETTINGS it sends first.
import CNghttp2

extension NGHTTP2Session {
    /// Which end of the connection the session is.
    package enum Role: Sendable {
        /// A server session. For an HTTP/1.1 `Upgrade: h2c`, `upgrade` carries
        /// the decoded `HTTP2-Settings` payload, and stream 1 is opened half-closed
        /// for the request already read (`headRequest`: it was a HEAD).
        case server(upgrade: (settings: [UInt8], headRequest: Bool)?)
        /// A client session (prior knowledge: the preface is ours to send first).
        case client
    }

    /// Limits and behaviours nghttp2 applies itself (`nghttp2_option`); nil or false: nghttp2's default.
    package struct Options: Sendable {
        /// Outbound ACKs (SETTINGS, PING) queued at most: a peer that keeps us busy answering is refused.
        package var maxOutboundAck: Int?
        /// Entries of one SETTINGS frame at most.
        package var maxSettings: Int?
        /// The connection window is ours to widen (`nghttp2_submit_window_update`), not nghttp2's.
        package var noAutoWindowUpdate = false
        /// What the peer allows until its SETTINGS arrive.
        package var peerMaxConcurrentStreams: Int?

        package init(
            maxOutboundAck: Int? = nil, maxSettings: Int? = nil, noAutoWindowUpdate: Bool = false,
            peerMaxConcurrentStreams: Int? = nil
        ) {
            self.maxOutboundAck = maxOutboundAck
            self.maxSettings = maxSettings
            self.noAutoWindowUpdate = noAutoWindowUpdate
            self.peerMaxConcurrentStreams = peerMaxConcurrentStreams
        }

        /// Applies the options to a new `nghttp2_option`.
        func apply(to option: OpaquePointer) {
            if let maxOutboundAck { nghttp2_option_set_max_outbound_ack(option, maxOutboundAck) }
            if let maxSettings { nghttp2_option_set_max_settings(option, maxSettings) }
            if noAutoWindowUpdate { nghttp2_option_set_no_auto_window_update(option, 1) }
            if let peerMaxConcurrentStreams {
                nghttp2_option_set_peer_max_concurrent_streams(option, UInt32(clamping: peerMaxConcurrentStreams))
            }
        }
    }

    /// One SETTINGS parameter (RFC 9113 §6.5.2).
    package struct Setting: Sendable {
        let id: nghttp2_settings_id
        let value: Int

        package static func enablePush(_ on: Bool) -> Setting { Setting(id: NGHTTP2_SETTINGS_ENABLE_PUSH, value: on ? 1 : 0) }
        package static func maxConcurrentStreams(_ value: Int) -> Setting {
            Setting(id: NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, value: value)
        }
        package static func initialWindowSize(_ value: Int) -> Setting {
            Setting(id: NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, value: value)
        }
        package static func maxFrameSize(_ value: Int) -> Setting { Setting(id: NGHTTP2_SETTINGS_MAX_FRAME_SIZE, value: value) }
        package static func maxHeaderListSize(_ value: Int) -> Setting {
            Setting(id: NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, value: value)
        }

        var entry: nghttp2_settings_entry {
            nghttp2_settings_entry(settings_id: Int32(id.rawValue), value: UInt32(clamping: value))
        }
    }
}
