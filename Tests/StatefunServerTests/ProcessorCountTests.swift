import Foundation
@testable import StatefunServer
import Testing

/// The CPUs the process may use (the default event-loop count): the affinity
/// mask capped by the cgroup v2 `cpu.max` quotas, read from files written here.
@Suite struct ProcessorCountTests {
    typealias Quota = ProcessorCount.CPUQuota

    @Test(arguments: [
        ("max 100000\n", Quota.unlimited, nil),
        ("150000 100000\n", .limit(quota: 150000, period: 100000), 2),
        ("100000 100000", .limit(quota: 100000, period: 100000), 1),
        ("250000 100000\n", .limit(quota: 250000, period: 100000), 3),
        ("5000 100000\n", .limit(quota: 5000, period: 100000), 1),
    ] as [(String, Quota, Int?)])
    func cpuMaxParses(_ text: String, _ quota: Quota, _ cpus: Int?) {
        #expect(Quota(parsing: text) == quota)
        #expect(Quota(parsing: text).cpus == cpus)
    }

    @Test(arguments: ["", "max", "100000", "abc 100000", "100 0", "-5 100000", "0 100000", "1 2 3", "max abc", "max -1"])
    func malformedCPUMaxIsNoLimit(_ text: String) {
        #expect(Quota(parsing: text) == .malformed(text))
        #expect(Quota(parsing: text).cpus == nil)
    }

    /// A cgroup tree under a temporary root: `files` maps paths under it to contents.
    func withCgroupTree<T>(_ files: [String: String], _ body: (String) throws -> T) throws -> T {
        let root = NSTemporaryDirectory() + "cgroup-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: root) }
        for (path, contents) in files {
            let url = URL(fileURLWithPath: root + "/" + path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try contents.write(to: url, atomically: true, encoding: .utf8)
        }
        return try body(root)
    }

    @Test func theQuotasFromTheProcesssCgroupUpToTheRootCount() throws {
        let quotas = try withCgroupTree([
            "proc-self-cgroup": "0::/kubepods/pod1/ctr\n",
            "fs/kubepods/cpu.max": "max 100000\n",
            "fs/kubepods/pod1/cpu.max": "150000 100000\n",
            "fs/kubepods/pod1/ctr/cpu.max": "max 100000\n",
        ]) { root in
            ProcessorCount.cgroupCPUQuotas(procSelfCgroup: root + "/proc-self-cgroup", root: root + "/fs")
        }
        #expect(quotas.map(\.quota) == [.unlimited, .limit(quota: 150000, period: 100000), .unlimited])
        #expect(quotas.map { $0.path.hasSuffix("/fs/kubepods/pod1/cpu.max") } == [false, true, false])
        let count = ProcessorCount.count(affinity: 4, online: 8, cgroupQuotas: quotas)
        #expect(count.count == 2)
        #expect(count.source.hasPrefix("sched_getaffinity: 4 of 8 online; cgroup cpu.max: 150000/100000 in "))
        #expect(count.source.hasSuffix("/fs/kubepods/pod1/cpu.max, 2 CPUs"))
    }

    @Test func aContainersOwnNamespaceReadsTheRootFile() throws {
        let quotas = try withCgroupTree(["proc-self-cgroup": "0::/\n", "fs/cpu.max": "50000 100000\n"]) { root in
            ProcessorCount.cgroupCPUQuotas(procSelfCgroup: root + "/proc-self-cgroup", root: root + "/fs")
        }
        #expect(quotas.map(\.quota) == [.limit(quota: 50000, period: 100000)])
        #expect(ProcessorCount.count(affinity: 64, online: 64, cgroupQuotas: quotas).count == 1)
    }

    @Test func theAffinityMaskCapsAnUnlimitedOrLargerQuota() {
        let none = ProcessorCount.count(affinity: 1, online: 2, cgroupQuotas: [])
        #expect(none == ProcessorCount(count: 1, source: "sched_getaffinity: 1 of 2 online; cgroup cpu.max: none"))
        let larger = ProcessorCount.count(
            affinity: 2, online: 2, cgroupQuotas: [("/x/cpu.max", .limit(quota: 400000, period: 100000))])
        #expect(larger.count == 2)
        #expect(ProcessorCount.count(affinity: nil, online: 3, cgroupQuotas: []).source.hasPrefix("online CPUs: 3;"))
    }

    @Test func aMalformedQuotaIsIgnoredAndSaidSo() {
        let count = ProcessorCount.count(affinity: 2, online: 2, cgroupQuotas: [("/x/cpu.max", .malformed("garbage"))])
        #expect(count.count == 2)
        #expect(count.source == #"sched_getaffinity: 2 of 2 online; cgroup cpu.max: unreadable ("garbage") in /x/cpu.max, ignored"#)
    }

    @Test func thisProcessCountsAtLeastOneCPUAndNoMoreThanAreOnline() {
        let count = ProcessorCount.available()
        #expect(count.count >= 1 && count.count <= HTTPServerConfiguration.onlineProcessorCount)
        #expect(count.source.contains("sched_getaffinity: "))
    }
}
