import Foundation
import Testing

/// The binary on bad input: clear messages, the right exit status, never a crash. No privileges
/// needed: these replay the recordings in samples/.
@Suite struct CLITests {
    static let ping = DemoNode.root.appendingPathComponent("samples/ping.fwrec").path

    func copy(_ transform: (inout [UInt8]) -> Void) throws -> String {
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Self.ping)))
        transform(&bytes)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("flowwatch-cli-\(UUID().uuidString).fwrec").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test("a cut recording replays up to its last whole record and says how much was cut")
    func truncated() throws {
        let path = try copy { $0.removeLast(37) }
        defer { unlink(path) }
        let whole = try DemoNode.run([DemoNode.binary, "replay", Self.ping])
        let cut = try DemoNode.run([DemoNode.binary, "replay", path])
        #expect(cut.status == 0)
        #expect(cut.stderr.contains("recording was cut:") && cut.stderr.contains("bytes after the last whole record"), "\(cut.stderr)")
        #expect(whole.stdout.hasPrefix(cut.stdout) && cut.stdout.count < whole.stdout.count)
    }

    @Test("a corrupt recording fails with the offset, after printing what came before it")
    func corrupt() throws {
        let path = try copy { $0[$0.count / 2] ^= 0x10 }
        defer { unlink(path) }
        let r = try DemoNode.run([DemoNode.binary, "replay", path])
        #expect(r.status == 1)
        #expect(r.stderr.contains("at offset "), "\(r.stderr)")
        #expect(!r.stdout.isEmpty)
    }

    @Test("not a recording, or a missing file, is refused clearly")
    func notARecording() throws {
        let r = try DemoNode.run([DemoNode.binary, "replay", DemoNode.root.appendingPathComponent("samples/config.yaml").path])
        #expect(r.status == 2 && r.stderr.contains("not a flowwatch recording"), "\(r.stderr)")
        let missing = try DemoNode.run([DemoNode.binary, "replay", "/nonexistent/x.fwrec"])
        #expect(missing.status == 2 && missing.stderr.contains("/nonexistent/x.fwrec") && missing.stderr.contains("ENOENT"), "\(missing.stderr)")
    }

    @Test("bad options name what is wrong", arguments: [
        (["-o", "yaml"], "'yaml' is not one of monitor, compact"),
        (["--time-format", "Kitchen"], "--time-format: 'Kitchen' is not one of"),
    ])
    func badOptions(args: [String], message: String) throws {
        let r = try DemoNode.run([DemoNode.binary, "replay", Self.ping] + args)
        #expect(r.status != 0 && r.stderr.contains(message), "\(r.stderr)")
    }
}
