// Frames queued for `send(into:limit:)`: a server's responses, a client's
// requests, resets, window updates, and the frames that end a connection.
import CNghttp2

extension NGHTTP2Session {
    /// WINDOW_UPDATE of `stream` (0: the connection) by `increment`.
    @inlinable
    package func submitWindowUpdate(stream: Int32, increment: Int) {
        nghttp2_submit_window_update(raw, UInt8(NGHTTP2_FLAG_NONE.rawValue), stream, Int32(clamping: increment))
    }

    /// RST_STREAM of `stream` with `errorCode` (RFC 9113 §7).
    @inlinable
    package func submitReset(stream: Int32, errorCode: UInt32) {
        nghttp2_submit_rst_stream(raw, UInt8(NGHTTP2_FLAG_NONE.rawValue), stream, errorCode)
    }

    /// GOAWAY with the largest stream id and a PING carrying `ping` (RFC 9113 §6.8's graceful notice).
    package func submitShutdownNotice(ping: [UInt8]) {
        nghttp2_submit_shutdown_notice(raw)
        ping.withUnsafeBufferPointer { _ = nghttp2_submit_ping(raw, 0, $0.baseAddress) }
    }

    /// GOAWAY(NO_ERROR) naming the last stream nghttp2 passed to us.
    package func submitFinalGoaway() {
        nghttp2_submit_goaway(
            raw, UInt8(NGHTTP2_FLAG_NONE.rawValue), nghttp2_session_get_last_proc_stream_id(raw),
            NGHTTP2_NO_ERROR.rawValue, nil, 0)
    }

    /// GOAWAY(`errorCode`); the session ends once it is sent.
    package func terminate(errorCode: UInt32) {
        nghttp2_session_terminate_session(raw, errorCode)
    }

    /// Submits a response's HEADERS: `:status`, the fields (each a name and a
    /// value as ranges of `fieldBytes`), `content-length` (unless nil) and
    /// `date`; DATA follows from the delegate's
    /// ``NGHTTP2SessionDelegate/onReadData(stream:into:)`` when `withBody`.
    /// No array is built: the pairs point at the fields' bytes, at digits on
    /// the stack and at the date; nghttp2 copies them during the call. 0 or
    /// nghttp2's error code.
    @inlinable @inline(__always)
    package func submitResponse(
        stream id: Int32, status: Int, fieldBytes: [UInt8], fieldSpans: [(name: Range<Int>, value: Range<Int>)],
        contentLength: Int?, date: [UInt8], withBody: Bool
    ) -> Int32 {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 48) { digits in
            let statusCount = writeDecimal(status, to: digits)
            let lengthDigits = UnsafeMutableBufferPointer(rebasing: digits[statusCount...])
            let lengthCount = contentLength.map { writeDecimal($0, to: lengthDigits) } ?? 0
            return fieldBytes.withUnsafeBufferPointer { fieldBytes in
                date.withUnsafeBufferPointer { date in
                    withUnsafeTemporaryAllocation(of: nghttp2_nv.self, capacity: fieldSpans.count + 3) { nva in
                        var count = 0
                        func add(_ name: UnsafePointer<UInt8>, _ nameLength: Int, _ value: UnsafePointer<UInt8>, _ valueLength: Int) {
                            nva[count] = nghttp2_nv(
                                name: UnsafeMutablePointer(mutating: name), value: UnsafeMutablePointer(mutating: value),
                                namelen: nameLength, valuelen: valueLength, flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue))
                            count += 1
                        }
                        let status: StaticString = ":status"
                        add(status.utf8Start, status.utf8CodeUnitCount, digits.baseAddress!, statusCount)
                        if let base = fieldBytes.baseAddress {
                            for span in fieldSpans {
                                add(base + span.name.lowerBound, span.name.count, base + span.value.lowerBound, span.value.count)
                            }
                        }
                        if contentLength != nil {
                            let name: StaticString = "content-length"
                            add(name.utf8Start, name.utf8CodeUnitCount, lengthDigits.baseAddress!, lengthCount)
                        }
                        if let dateBase = date.baseAddress {
                            let name: StaticString = "date"
                            add(name.utf8Start, name.utf8CodeUnitCount, dateBase, date.count)
                        }
                        if withBody {
                            var provider = nghttp2_data_provider(
                                source: nghttp2_data_source(ptr: nil), read_callback: nghttp2ReadData)
                            return nghttp2_submit_response(raw, id, nva.baseAddress, count, &provider)
                        }
                        return nghttp2_submit_response(raw, id, nva.baseAddress, count, nil)
                    }
                }
            }
        }
    }

    /// Submits a request's HEADERS with `fields` (pseudo-header fields first);
    /// DATA follows from the delegate's ``NGHTTP2SessionDelegate/onReadData(stream:into:)``
    /// when `withBody`. The new stream's id, or nghttp2's (negative) error code.
    package func submitRequest(fields: [(name: String, value: String)], withBody: Bool) -> Int32 {
        var storage: [UInt8] = []
        var spans: [(Range<Int>, Range<Int>)] = []
        for (name, value) in fields {
            let nameStart = storage.count
            storage.append(contentsOf: name.utf8)
            let valueStart = storage.count
            storage.append(contentsOf: value.utf8)
            spans.append((nameStart..<valueStart, valueStart..<storage.count))
        }
        return storage.withUnsafeMutableBufferPointer { buffer -> Int32 in
            let base = buffer.baseAddress!
            let nva = spans.map { name, value in
                nghttp2_nv(
                    name: base + name.lowerBound, value: base + value.lowerBound, namelen: name.count,
                    valuelen: value.count, flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue))
            }
            guard withBody else { return nghttp2_submit_request(raw, nil, nva, nva.count, nil, nil) }
            var provider = nghttp2_data_provider(source: nghttp2_data_source(ptr: nil), read_callback: nghttp2ReadData)
            return nghttp2_submit_request(raw, nil, nva, nva.count, &provider, nil)
        }
    }
}
