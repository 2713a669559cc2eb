import ChildProcess
import Foundation
import Glibc
import Testing

/// The programs the tests start (curl, Python, the examples) get only their
/// standard streams and no blocked signals: a leaked socket would keep a
/// test's connection open, a blocked SIGTERM would make a child unkillable.
@Suite("Child processes of the tests")
struct ChildProcessTests {
    @Test("a child inherits no descriptor but its standard streams, and no blocked signal")
    func onlyStandardStreamsAndNoBlockedSignals() throws {
        // A descriptor without close-on-exec, far above the others.
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(socket >= 0)
        // F_DUPFD takes the lowest free number from 900 up; dup2 to a fixed number would close
        // whatever another test has open there (the tests run in parallel in this process).
        let high = fcntl(socket, F_DUPFD, 900)
        try #require(high >= 900)
        close(socket)
        defer { close(high) }
        // Blocked on this thread, which starts the child (no suspension point in between).
        var blocked = sigset_t()
        sigemptyset(&blocked)
        sigaddset(&blocked, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &blocked, nil)
        defer { pthread_sigmask(SIG_UNBLOCK, &blocked, nil) }

        func lines(_ executable: String, _ arguments: [String]) throws -> [String] {
            let output = Pipe()
            let child = try ChildProcess(
                executable, arguments, stdout: .descriptor(output.fileHandleForWriting.fileDescriptor))
            try output.fileHandleForWriting.close()
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            #expect(child.waitUntilExit() == 0)
            return text.split(separator: "\n").map(String.init)
        }
        // The shell's own descriptors (ls would list the one it reads the directory with).
        let descriptors = try lines("/bin/sh", ["-c", "ls /proc/$$/fd"])
        #expect(Set(descriptors) == ["0", "1", "2"], "\(descriptors)")
        // grep itself, started directly (a shell clears its mask when it starts).
        let mask = try lines("/bin/grep", ["SigBlk", "/proc/self/status"])
        #expect(mask == ["SigBlk:\t0000000000000000"], "\(mask)")
    }

    @Test("the exit status is the program's, or the signal that ended it")
    func exitStatus() throws {
        #expect(try ChildProcess("/bin/sh", ["-c", "exit 7"]).waitUntilExit() == 7)
        let sleeper = try ChildProcess("/bin/sleep", ["60"])
        #expect(sleeper.isRunning)
        sleeper.kill(SIGKILL)
        #expect(sleeper.waitUntilExit() == SIGKILL)
        #expect(!sleeper.isRunning)
    }

    /// More children awaited at once than Swift's task pool has threads: if the
    /// waits held the pool, the task below could not run until the children
    /// ended on their own (exit status 0, a minute later); it runs, and kills them.
    @Test("awaiting a child's exit keeps no thread of Swift's task pool")
    func exitStatusAwaitsOffThePool() async throws {
        let children = try (0..<8).map { _ in try ChildProcess("/bin/sleep", ["60"]) }
        async let statuses = withTaskGroup(of: Int32.self) { group in
            for child in children { group.addTask { await child.exitStatus() } }
            return await group.reduce(into: []) { $0.append($1) }
        }
        let ran = await Task.detached { true }.value
        for child in children { child.kill(SIGKILL) }
        #expect(ran)
        #expect(await statuses == Array(repeating: SIGKILL, count: children.count))
        #expect(try await ChildProcess("/bin/sh", ["-c", "exit 3"]).exitStatus() == 3)
    }
}
