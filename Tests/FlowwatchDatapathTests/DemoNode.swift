import Synchronization
import CFlowwatchLinux
import Foundation
import Testing

/// A demo node (scripts/demo-node.sh) for one test, torn down by `down()` on every path.
final class DemoNode: @unchecked Sendable {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let script = root.appendingPathComponent("scripts/demo-node.sh").path
    static let binary = root.appendingPathComponent(".build/debug/flowwatch").path

    let name: String
    let work: URL
    var config: String { work.appendingPathComponent("config.yaml").path }
    var node: String { "\(name)-node" }

    /// Nodes made so far by this process: suites run in parallel, and two with the same tag
    /// must not build (or tear down) the same namespaces.
    private static let made = Atomic<Int>(0)

    init(_ tag: String) throws {
        let n = Self.made.add(1, ordering: .relaxed).newValue
        name = "fwt\(tag)\(getpid() % 10000)n\(n)"
        work = FileManager.default.temporaryDirectory.appendingPathComponent("flowwatch-\(name)")
        try? FileManager.default.removeItem(at: work)
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        do {
            try Self.sh(Self.script, "up", name, config)
        } catch {
            down()
            throw error
        }
    }

    func down() {
        _ = try? Self.sh(Self.script, "down", name)
        try? FileManager.default.removeItem(at: work)
    }

    func lxc(_ pod: String) throws -> String { try Self.sh(Self.script, "lxc", name, pod).trimmingCharacters(in: .whitespacesAndNewlines) }

    /// Runs a command in one of the node's namespaces (`node`, `client`, ...).
    @discardableResult
    func exec(_ ns: String, _ args: String...) throws -> String { try Self.sh(["ip", "netns", "exec", "\(name)-\(ns)"] + args) }

    @discardableResult
    static func sh(_ args: String...) throws -> String { try sh(args) }

    @discardableResult
    static func sh(_ args: [String]) throws -> String {
        let r = try run(args, separateErrors: false)
        guard r.status == 0 else { throw CommandFailed(command: args.joined(separator: " "), status: r.status, output: r.stdout) }
        return r.stdout
    }

    /// Runs a command to its end: exit status, stdout and (unless merged into stdout) stderr.
    static func run(_ args: [String], separateErrors: Bool = true) throws -> (status: Int32, stdout: String, stderr: String) {
        // Output goes through files, not pipes: daemons the command leaves running (the demo
        // node's servers) would hold a pipe open forever.
        func temp() throws -> (String, Int32) {
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("flowwatch-sh-\(UUID().uuidString)").path
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw CommandFailed(command: "open \(path)", status: errno, output: "") }
            return (path, fd)
        }
        let (outPath, outFD) = try temp()
        let (errPath, errFD) = separateErrors ? try temp() : (outPath, outFD)
        defer { unlink(outPath); unlink(errPath) }
        let pid = try spawn(args, stdout: outFD, stderr: errFD)
        close(outFD)
        if separateErrors { close(errFD) }
        let status = wait(pid)
        let out = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
        let err = separateErrors ? (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "" : ""
        return (status, out, err)
    }

    /// Waits up to 10 s for a spawned flowwatch to write its ready file; if it exited first, its
    /// wait status (it is reaped).
    static func waitReady(_ ready: URL, pid: pid_t) -> (ready: Bool, exitStatus: Int32?) {
        for _ in 0..<200 {
            if FileManager.default.fileExists(atPath: ready.path) { return (true, nil) }
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid { return (false, status) }
            usleep(50_000)
        }
        return (false, nil)
    }

    /// posix_spawn with a clean signal mask and default dispositions: the test runner's threads
    /// block most signals, and a child that inherited that mask could not be stopped with Ctrl-C.
    static func spawn(_ args: [String], stdout: Int32, stderr: Int32) throws -> pid_t {
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var none = sigset_t(), defaults = sigset_t()
        sigemptyset(&none)
        sigemptyset(&defaults)
        for sig in [SIGINT, SIGTERM, SIGPIPE, SIGCHLD, SIGHUP, SIGQUIT] { sigaddset(&defaults, sig) }
        posix_spawnattr_setsigmask(&attr, &none)
        posix_spawnattr_setsigdefault(&attr, &defaults)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, stdout, 1)
        posix_spawn_file_actions_adddup2(&actions, stderr, 2)
        var argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid = pid_t()
        let rc = posix_spawnp(&pid, args[0], &actions, &attr, &argv, environ)
        guard rc == 0 else { throw CommandFailed(command: args.joined(separator: " "), status: rc, output: "spawn failed") }
        return pid
    }

    /// Reaps `pid`: its exit status, or 128 + the signal that ended it.
    static func wait(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }

    struct CommandFailed: Error, CustomStringConvertible {
        var command: String, status: Int32, output: String
        var description: String { "`\(command)` exited \(status): \(output)" }
    }

    /// flowwatch running inside the node namespace, its output going to files.
    final class Observer: @unchecked Sendable {
        let pid: pid_t
        let stdout: URL, stderr: URL, ready: URL
        private var status: Int32?

        /// `stdoutFD`: where flowwatch's output goes instead of the `stdout` file (a pipe, to be
        /// a slow terminal). `wrapper` runs flowwatch (e.g. setpriv dropping a capability).
        init(node: DemoNode, _ extra: [String] = [], tag: String = "fw", stdoutFD: Int32? = nil,
             wrapper: [String] = []) throws {
            stdout = node.work.appendingPathComponent("\(tag).out")
            stderr = node.work.appendingPathComponent("\(tag).err")
            ready = node.work.appendingPathComponent("\(tag).ready")
            let out = stdoutFD.map { dup($0) } ?? open(stdout.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            let err = open(stderr.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            defer { close(out); close(err) }
            // `ip netns exec` execs flowwatch, so the pid is flowwatch's own.
            pid = try DemoNode.spawn(["ip", "netns", "exec", node.node] + wrapper + [DemoNode.binary, "--follow", "--config", node.config,
                                      "--ready-file", ready.path] + extra, stdout: out, stderr: err)
            let started = DemoNode.waitReady(ready, pid: pid)
            if started.ready { return }
            status = started.exitStatus
            stop()
            throw CommandFailed(command: "flowwatch", status: status ?? -1, output: errors)
        }

        var output: String { (try? String(contentsOf: stdout, encoding: .utf8)) ?? "" }
        var errors: String { (try? String(contentsOf: stderr, encoding: .utf8)) ?? "" }

        /// Waits until stderr contains `text` (device events are reported there).
        func waitForError(_ text: String, seconds: Double = 3) -> Bool {
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                if errors.contains(text) { return true }
                usleep(50_000)
            }
            return false
        }

        /// Sends `sig` (Ctrl-C by default) and returns the exit status; repeat calls return it again.
        @discardableResult
        func stop(signal sig: Int32 = SIGINT) -> Int32 {
            if let status { return status }
            kill(pid, sig)
            let st = DemoNode.wait(pid)
            status = st
            return st
        }
    }

    /// Program ids attached by tcx to a device in the node's namespace, in run order.
    func tcxPrograms(_ device: String, egress: Bool) throws -> [UInt32] {
        try inNamespace(node) {
            let ifindex = if_nametoindex(device)
            guard ifindex != 0 else { return [] }
            var ids = [UInt32](repeating: 0, count: 16)
            let n = fw_tcx_query(Int32(ifindex), egress ? 1 : 0, &ids, UInt32(ids.count))
            return n > 0 ? Array(ids.prefix(Int(n))) : []
        }
    }
}

/// Runs `body` on a thread of its own that has entered a network namespace, so the test
/// process itself never leaves its own.
func inNamespace(_ name: String, _ body: @escaping () -> [UInt32]) throws -> [UInt32] {
    final class Box: @unchecked Sendable {
        var value: [UInt32]?
        var error: Int32 = 0
        let body: () -> [UInt32]
        let path: String
        init(_ path: String, _ body: @escaping () -> [UInt32]) { self.path = path; self.body = body }
    }
    let box = Box("/var/run/netns/\(name)", body)
    var thread = pthread_t()
    pthread_create(&thread, nil, { ctx in
        let box = Unmanaged<Box>.fromOpaque(ctx!).takeRetainedValue()
        let rc = fw_enter_netns(box.path)
        guard rc == 0 else { box.error = -rc; return nil }
        box.value = box.body()
        return nil
    }, Unmanaged.passRetained(box).toOpaque())
    pthread_join(thread, nil)
    guard let value = box.value else { throw DemoNode.CommandFailed(command: "setns \(name)", status: box.error, output: "") }
    return value
}
