import Glibc

/// The calendar time, for `Date` fields and file names.
enum WallClock {
    /// A moment in UTC, broken down.
    struct UTC {
        var year: Int
        /// 1...12.
        var month: Int
        var day: Int
        var hour: Int
        var minute: Int
        var second: Int
        /// 0 is Sunday.
        var weekday: Int
    }

    /// Seconds since the epoch.
    @inline(__always)
    static func currentSecond() -> Int {
        Int(time(nil))
    }

    /// `second` (since the epoch) in UTC.
    static func utc(_ second: Int) -> UTC {
        var t = time_t(second)
        var tm = Glibc.tm()
        gmtime_r(&t, &tm)
        return UTC(
            year: Int(tm.tm_year) + 1900, month: Int(tm.tm_mon) + 1, day: Int(tm.tm_mday), hour: Int(tm.tm_hour),
            minute: Int(tm.tm_min), second: Int(tm.tm_sec), weekday: Int(tm.tm_wday))
    }
}
