import CLinuxShims
import Glibc

/// The CPUs the process may use, as Go's runtime and the JVM count them: the
/// CPUs its affinity mask allows (`sched_getaffinity`, what `taskset` sets),
/// capped by the cgroup v2 CPU quota (`cpu.max`, what a container's CPU limit
/// sets) rounded up to whole CPUs; at least 1.
///
/// An ``HTTPServerConfiguration/eventLoopCount`` of 0 (the default) starts one
/// event loop per CPU counted here, and the start-up line says where the
/// count came from.
public struct ProcessorCount: Sendable, Equatable, CustomStringConvertible {
    /// The number of CPUs, at least 1.
    public let count: Int
    /// Where the count came from: `sched_getaffinity: 1 of 2 online; cgroup cpu.max: none`.
    public let source: String

    public var description: String { "\(count) (\(source))" }

    /// Counts the CPUs the process may use now.
    public static func available() -> ProcessorCount {
        let online = sysconf(Int32(_SC_NPROCESSORS_ONLN))
        let affinity = cshim_affinity_cpu_count()
        return count(
            affinity: affinity > 0 ? Int(affinity) : nil, online: online > 0 ? online : 1,
            cgroupQuotas: cgroupCPUQuotas())
    }

    /// The count from its parts: the affinity mask's CPUs (`nil` when it could
    /// not be read), the online CPUs, and the cgroup quotas on the way from the
    /// process's cgroup to the root (each `cpu.max` file and what it held).
    static func count(affinity: Int?, online: Int, cgroupQuotas: [(path: String, quota: CPUQuota)]) -> ProcessorCount {
        var count = affinity ?? online
        var parts = [affinity.map { "sched_getaffinity: \($0) of \(online) online" } ?? "online CPUs: \(online)"]
        let limits = cgroupQuotas.compactMap { entry in entry.quota.cpus.map { (entry.path, entry.quota, $0) } }
        if let (path, quota, cpus) = limits.min(by: { $0.2 < $1.2 }) {
            count = min(count, cpus)
            parts.append("cgroup cpu.max: \(quota) in \(path), \(cpus) CPU\(cpus == 1 ? "" : "s")")
        } else if let malformed = cgroupQuotas.first(where: { $0.quota.cpus == nil && $0.quota != .unlimited }) {
            parts.append("cgroup cpu.max: \(malformed.quota) in \(malformed.path), ignored")
        } else {
            parts.append("cgroup cpu.max: none")
        }
        return ProcessorCount(count: max(1, count), source: parts.joined(separator: "; "))
    }

    /// What a cgroup v2 `cpu.max` file holds: `max PERIOD` (no limit) or `QUOTA PERIOD`,
    /// both in microseconds.
    enum CPUQuota: Equatable, CustomStringConvertible {
        case unlimited
        case limit(quota: Int, period: Int)
        /// A file that is neither: ignored.
        case malformed(String)

        /// The whole CPUs the quota allows (rounded up, at least 1); `nil` for none.
        var cpus: Int? {
            guard case let .limit(quota, period) = self else { return nil }
            return max(1, quota / period + (quota % period == 0 ? 0 : 1))
        }

        var description: String {
            switch self {
            case .unlimited: "max"
            case let .limit(quota, period): "\(quota)/\(period)"
            case let .malformed(text): "unreadable (\(text.debugDescription))"
            }
        }

        /// Parses a `cpu.max` file's text.
        init(parsing text: String) {
            let fields = text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" })
            let period = fields.count == 2 ? Int(fields[1]) : nil
            guard let period, period > 0 else {
                self = .malformed(String(text.prefix(64)))
                return
            }
            if fields[0] == "max" {
                self = .unlimited
            } else if let quota = Int(fields[0]), quota > 0 {
                self = .limit(quota: quota, period: period)
            } else {
                self = .malformed(String(text.prefix(64)))
            }
        }
    }

    /// The `cpu.max` of the process's cgroup and of each cgroup above it (a
    /// parent's quota caps its children's), read under `root`. The cgroup is
    /// the `0::PATH` line of `/proc/self/cgroup` (cgroup v2); in a container
    /// with its own cgroup namespace it is `/`, the container's own cgroup.
    static func cgroupCPUQuotas(
        procSelfCgroup: String = "/proc/self/cgroup", root: String = "/sys/fs/cgroup"
    ) -> [(path: String, quota: CPUQuota)] {
        var cgroup = "/"
        if let text = readSmallFile(procSelfCgroup),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("0::") })
        {
            cgroup = String(line.dropFirst(3))
        }
        var components = cgroup.split(separator: "/").filter { $0 != "." && $0 != ".." }
        var quotas: [(path: String, quota: CPUQuota)] = []
        while true {
            let path = ([root] + components.map(String.init)).joined(separator: "/") + "/cpu.max"
            if let text = readSmallFile(path) { quotas.append((path, CPUQuota(parsing: text))) }
            if components.isEmpty { break }
            components.removeLast()
        }
        return quotas
    }

    /// The first 4 KiB of a file, or `nil` when it cannot be read.
    static func readSmallFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { Posix.close(fd) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        guard case .processed(let count)? = try? Posix.read(fd, into: &buffer) else { return nil }
        return String(decoding: buffer.prefix(count), as: UTF8.self)
    }
}
