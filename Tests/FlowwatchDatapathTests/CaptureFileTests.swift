import Foundation
import Testing

/// Replays of the samples to pcap and pcapng: byte for byte the checked-in files, which
/// tcpdump and tshark read without a warning, showing the flow's meaning.
@Suite struct CaptureFileTests {
    static let samples = DemoNode.root.appendingPathComponent("samples")
    static let names = ["ping", "tcp", "udp-dns", "pod-to-world", "ipv6", "lost-events"]
    static var tsharkRequired: Bool { Privileged.inCI || FileManager.default.isExecutableFile(atPath: "/usr/bin/tshark") }

    func temp(_ ext: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("flowwatch-cap-\(UUID().uuidString).\(ext)").path
    }

    @Test("every sample replays to its golden pcap and pcapng", arguments: names)
    func golden(name: String) throws {
        let pcap = temp("pcap"), pcapng = temp("pcapng")
        defer { unlink(pcap); unlink(pcapng) }
        let r = try DemoNode.run([DemoNode.binary, "replay", Self.samples.appendingPathComponent("\(name).fwrec").path,
                                  "--pcap-only", "--pcap", pcap, "--pcapng", pcapng])
        #expect(r.status == 0 && r.stdout.isEmpty, "\(r.stderr)")
        for (made, golden) in [(pcap, "capture.pcap"), (pcapng, "capture.pcapng")] {
            let expected = try Data(contentsOf: Self.samples.appendingPathComponent(name).appendingPathComponent(golden))
            #expect(try Data(contentsOf: URL(fileURLWithPath: made)) == expected,
                    "samples/\(name)/\(golden) differs; if the change is meant, run scripts/make-samples.sh --render")
        }
        var st = stat()
        #expect(stat(pcap, &st) == 0 && st.st_mode & 0o777 == 0o600)
        // Classic pcap alone reads records in place, without events or flows: the same file and
        // the same counts.
        let alone = try DemoNode.run([DemoNode.binary, "replay", Self.samples.appendingPathComponent("\(name).fwrec").path,
                                      "--pcap-only", "--force", "--pcap", pcap])
        #expect(alone.status == 0 && alone.stdout.isEmpty && alone.stderr == r.stderr, "\(alone.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: pcap))
                == Data(contentsOf: Self.samples.appendingPathComponent(name).appendingPathComponent("capture.pcap")),
                "samples/\(name)/capture.pcap differs when written alone")
        // Printing too, each event is decoded whole and pcapng written from it: the same file.
        let printing = try DemoNode.run([DemoNode.binary, "replay", Self.samples.appendingPathComponent("\(name).fwrec").path,
                                         "-o", "json", "--force", "--pcapng", pcapng])
        #expect(printing.status == 0, "\(printing.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: pcapng))
                == Data(contentsOf: Self.samples.appendingPathComponent(name).appendingPathComponent("capture.pcapng")),
                "samples/\(name)/capture.pcapng differs when flows are printed too")
    }

    @Test("tcpdump reads them without warnings and sees the same packets in both", arguments: names)
    func tcpdump(name: String) throws {
        let dir = Self.samples.appendingPathComponent(name)
        let a = try DemoNode.run(["tcpdump", "-nn", "-tt", "-r", dir.appendingPathComponent("capture.pcap").path])
        let b = try DemoNode.run(["tcpdump", "-nn", "-tt", "-r", dir.appendingPathComponent("capture.pcapng").path])
        #expect(a.status == 0 && b.status == 0)
        #expect(a.stdout == b.stdout && !a.stdout.isEmpty)
        for r in [a, b] {
            let warnings = r.stderr.split(separator: "\n").filter { !$0.hasPrefix("reading from file") }
            #expect(warnings.isEmpty, "\(warnings)")
        }
    }

    @Test("tshark shows interfaces with their pods, direction, packet ids, verdicts and comments",
          .enabled(if: tsharkRequired, "tshark is not installed (make deps installs it)"))
    func tshark() throws {
        let file = Self.samples.appendingPathComponent("ping/capture.pcapng").path
        let r = try DemoNode.run(["tshark", "-r", file, "-Y", "icmp", "-T", "fields", "-e", "frame.interface_description",
                                  "-e", "frame.packet_flags_direction", "-e", "frame.packet_id", "-e", "frame.verdict.ebpf_tc",
                                  "-e", "frame.comment"])
        #expect(r.status == 0, "\(r.stderr)")
        let rows = r.stdout.split(separator: "\n").map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
        try #require(rows.count == 8, "\(r.stdout)") // 2 pings: request and reply, each at 2 points
        #expect(rows[0][0] == "endpoint 2073 default/cni-client" && rows[0][1] == "0x00000001")
        #expect(rows[1][0] == "endpoint 149 default/cni-server" && rows[1][1] == "0x00000002")
        #expect(rows[0][2] == rows[1][2] && rows[0][2] != rows[2][2], "one packet, one id at both points")
        #expect(rows.allSatisfy { $0[3] == "-1" })
        #expect(rows[1][4] == "to-endpoint FORWARDED state new: default/cni-client (ID:22099, endpoint 2073) -> default/cni-server (ID:11575, endpoint 149)")
        let warnings = r.stderr.split(separator: "\n").filter { !$0.contains("Running as user \"root\"") }
        #expect(warnings.isEmpty, "\(warnings)")
    }

    @Test("gzip output is read by tshark directly, and a full disk stops the file with a clear error",
          .enabled(if: tsharkRequired, "tshark is not installed (make deps installs it)"))
    func gzipAndFullDisk() throws {
        let gz = temp("pcapng.gz")
        defer { unlink(gz) }
        let fwrec = Self.samples.appendingPathComponent("tcp.fwrec").path
        #expect(try DemoNode.run([DemoNode.binary, "replay", fwrec, "--pcap-only", "--pcapng", gz]).status == 0)
        let plain = try DemoNode.run(["tshark", "-r", Self.samples.appendingPathComponent("tcp/capture.pcapng").path])
        let zipped = try DemoNode.run(["tshark", "-r", gz])
        #expect(zipped.status == 0 && zipped.stdout == plain.stdout && !plain.stdout.isEmpty)

    }

    @Test("a disk that fills up stops the capture file with a clear error; flows go on; the file stays readable",
          .enabled(if: Privileged.enabled, Privileged.reason))
    func fullDisk() throws {
        var template = Array("/tmp/flowwatch-full-XXXXXX".utf8CString)
        let dir = try #require(mkdtemp(&template).map { String(cString: $0) })
        defer { rmdir(dir) }
        try #require(mount("tmpfs", dir, "tmpfs", 0, "size=16k") == 0, "mount tmpfs: \(errno)")
        defer { umount(dir) }
        let fwrec = Self.samples.appendingPathComponent("lost-events.fwrec").path
        let file = "\(dir)/cap.pcap"
        let full = try DemoNode.run([DemoNode.binary, "replay", fwrec, "-o", "compact", "--pcap", file])
        let plain = try DemoNode.run([DemoNode.binary, "replay", fwrec, "-o", "compact"])
        #expect(full.status == 1, "the exit status reports the failed capture file")
        #expect(full.stderr.contains("capture file stopped") && full.stderr.contains("ENOSPC") && full.stderr.contains(file), "\(full.stderr)")
        #expect(full.stdout == plain.stdout && !plain.stdout.isEmpty, "flows are still printed, all of them")
        // Whole records only: here the first buffer did not fit, so the file holds its header.
        let read = try DemoNode.run(["tcpdump", "-nn", "-r", file])
        #expect(read.status == 0, "\(read.stderr)")
        #expect(!read.stderr.contains("truncated"), "\(read.stderr)")
    }

    @Test("filters select what is written, as they select what is printed")
    func filtered() throws {
        let pcap = temp("pcap")
        defer { unlink(pcap) }
        let fwrec = Self.samples.appendingPathComponent("tcp.fwrec").path
        let r = try DemoNode.run([DemoNode.binary, "replay", fwrec, "-o", "compact", "--to-port", "8080", "--pcap", pcap])
        #expect(r.status == 0, "\(r.stderr)")
        let printed = r.stdout.split(separator: "\n")
        #expect(!printed.isEmpty && printed.allSatisfy { $0.contains(":8080 (ID:11575)") }, "\(r.stdout)")
        let read = try DemoNode.run(["tcpdump", "-nn", "-r", pcap])
        let written = read.stdout.split(separator: "\n")
        #expect(written.count == printed.count && written.allSatisfy { $0.contains(".8080:") }, "\(read.stdout)")
    }

    @Test("an existing capture file is not overwritten without --force")
    func refuseOverwrite() throws {
        let path = temp("pcap")
        #expect(FileManager.default.createFile(atPath: path, contents: Data([1, 2, 3])))
        defer { unlink(path) }
        let r = try DemoNode.run([DemoNode.binary, "replay", Self.samples.appendingPathComponent("ping.fwrec").path, "--pcap", path])
        #expect(r.status == 2 && r.stderr.contains("--force"), "\(r.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data([1, 2, 3]))
    }
}
