import CLinuxShims

/// What a descriptor is watched for (its interest), or what it is ready for
/// (an event): a set of epoll's flags, under names that say what they mean.
struct SelectorEvents: OptionSet, Hashable {
    let rawValue: UInt32

    @inline(__always) init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Input can be read, or the peer closed (a read returns 0): `EPOLLIN`.
    static let readable = SelectorEvents(rawValue: EPOLLIN.rawValue)
    /// Output can be written: `EPOLLOUT`.
    static let writable = SelectorEvents(rawValue: EPOLLOUT.rawValue)
    /// The peer shut down its sending side: `EPOLLRDHUP`. Watched while a
    /// connection is not read, to notice a client that went away.
    static let readHangup = SelectorEvents(rawValue: EPOLLRDHUP.rawValue)
    /// An error is pending on the descriptor: `EPOLLERR` (always reported).
    static let error = SelectorEvents(rawValue: EPOLLERR.rawValue)
    /// Both directions are shut down, or the connection was reset: `EPOLLHUP` (always reported).
    static let hangup = SelectorEvents(rawValue: EPOLLHUP.rawValue)
    /// Of all the selectors watching one descriptor (a listening socket every
    /// loop shares), only one wakes per event: `EPOLLEXCLUSIVE`. Only when
    /// registering; such a registration cannot be modified, only removed.
    static let exclusive = SelectorEvents(rawValue: EPOLLEXCLUSIVE.rawValue)
}
