// The one wall between libnghttp2 and Swift, for the server and for
// statefun-local's client: the only code that calls nghttp2, holds its
// pointers or takes its C callbacks (NGHTTP2Callbacks.swift). nghttp2 does the
// framing, HPACK, flow control, stream states and protocol errors; its events
// go to the session's delegate in Swift terms. Inlinable where the server's
// every request passes (bytes in, frames out).
import CNghttp2

/// A failure to start an nghttp2 session.
package struct NGHTTP2Error: Error, CustomStringConvertible {
    package let description: String
}

/// One nghttp2 session, server or client: bytes in (``receive(_:)``), frames
/// out (``send(into:limit:)``), submissions (NGHTTP2Session+Submissions).
/// Its events go to its delegate, which owns it: the delegate is held
/// unretained, as nghttp2 holds the session (its `user_data`).
package final class NGHTTP2Session {
    @usableFromInline let raw: OpaquePointer
    /// Held unretained: the delegate owns the session, and outlives it.
    unowned(unsafe) let delegate: any NGHTTP2SessionDelegate

    /// A session in `role` whose events go to `delegate`, with `options`, and
    /// `settings` queued as its first SETTINGS frame.
    package init(
        _ role: Role, delegate: any NGHTTP2SessionDelegate, options: Options = Options(), settings: [Setting]
    ) throws(NGHTTP2Error) {
        var callbacks: OpaquePointer?
        guard nghttp2_session_callbacks_new(&callbacks) == 0, let callbacks else {
            throw NGHTTP2Error(description: "nghttp2_session_callbacks_new failed")
        }
        defer { nghttp2_session_callbacks_del(callbacks) }
        installCallbacks(callbacks)

        var option: OpaquePointer?
        guard nghttp2_option_new(&option) == 0, let option else {
            throw NGHTTP2Error(description: "nghttp2_option_new failed")
        }
        defer { nghttp2_option_del(option) }
        options.apply(to: option)

        var created: OpaquePointer?
        switch role {
        case .server:
            guard nghttp2_session_server_new2(&created, callbacks, nil, option) == 0, let session = created else {
                throw NGHTTP2Error(description: "nghttp2_session_server_new2 failed")
            }
            raw = session
        case .client:
            guard nghttp2_session_client_new2(&created, callbacks, nil, option) == 0, let session = created else {
                throw NGHTTP2Error(description: "nghttp2_session_client_new2 failed")
            }
            raw = session
        }
        self.delegate = delegate
        // Set before anything can call back: an upgrade's SETTINGS already does.
        nghttp2_session_set_user_data(raw, Unmanaged.passUnretained(self).toOpaque())

        // From here on, a throw deletes the session (deinit).
        let entries = settings.map(\.entry)
        var rc = nghttp2_submit_settings(raw, UInt8(NGHTTP2_FLAG_NONE.rawValue), entries, entries.count)
        if rc == 0, case .server(let upgrade?) = role {
            rc = upgrade.settings.withUnsafeBufferPointer { payload in
                nghttp2_session_upgrade2(raw, payload.baseAddress, payload.count, upgrade.headRequest ? 1 : 0, nil)
            }
        }
        if rc != 0 { throw NGHTTP2Error(description: "cannot start the HTTP/2 session: \(Self.describe(rc))") }
    }

    deinit { nghttp2_session_del(raw) }

    // MARK: - Input and output

    /// Feeds bytes read from the socket; the delegate's events run meanwhile.
    /// Nil, or nghttp2's error code (the session is then over, a GOAWAY maybe queued).
    @inlinable
    package func receive(_ bytes: RawSpan) -> Int32? {
        bytes.withUnsafeBytes { bytes in
            guard let base = bytes.baseAddress, !bytes.isEmpty else { return nil }
            let rc = nghttp2_session_mem_recv(raw, base.assumingMemoryBound(to: UInt8.self), bytes.count)
            return rc < 0 ? Int32(rc) : nil
        }
    }

    /// Serializes queued frames onto `output`, up to about `limit` bytes in all.
    /// Nil, or nghttp2's error code.
    @inlinable
    package func send(into output: inout [UInt8], limit: Int) -> Int32? {
        while output.count < limit {
            var data: UnsafePointer<UInt8>?
            let n = nghttp2_session_mem_send(raw, &data)
            if n < 0 { return Int32(n) }
            guard n > 0, let data else { break }
            if output.isEmpty { output.reserveCapacity(min(limit + 65536, max(n, 16 * 1024))) }
            output.append(contentsOf: UnsafeBufferPointer(start: data, count: n))
        }
        return nil
    }

    /// nghttp2 wants neither to read nor to write: the session is over.
    @inlinable
    package var isFinished: Bool { nghttp2_session_want_read(raw) == 0 && nghttp2_session_want_write(raw) == 0 }

    /// The connection-level receive window still open to the peer.
    @inlinable
    package var localWindowSize: Int { Int(nghttp2_session_get_local_window_size(raw)) }

    /// Sets the connection-level receive window to `size` (a WINDOW_UPDATE widens it). 0 or nghttp2's error code.
    package func setLocalWindowSize(_ size: Int) -> Int32 {
        nghttp2_session_set_local_window_size(raw, UInt8(NGHTTP2_FLAG_NONE.rawValue), 0, Int32(clamping: size))
    }

    /// nghttp2's description of one of its error codes.
    package static func describe(_ code: Int32) -> String {
        "\(String(cString: nghttp2_strerror(code))) (\(code))"
    }

    /// The name of an HTTP/2 error code (RFC 9113 §7) as nghttp2 prints it, e.g. `REFUSED_STREAM`.
    package static func describe(errorCode: UInt32) -> String {
        String(cString: nghttp2_http2_strerror(errorCode))
    }
}
