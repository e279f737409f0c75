import Foundation
import Testing

/// The kernel prefilter on a demo node: observers with and without it watch the same traffic
/// at the same time and must print the same flows; the summary counts what the kernel left out.
@Suite(.serialized, .enabled(if: Privileged.enabled, Privileged.reason))
struct PrefilterEndToEndTests {
    /// Hubble's compact lines without their time (the observers read the same packets, but
    /// each converts kernel time with its own clock offset).
    func untimed(_ text: String) -> [String] {
        text.split(separator: "\n").map { String($0.replacing(#/^\w{3} \d+ [\d:.]+: /#, with: "")) }
    }

    func summary(_ fw: DemoNode.Observer) -> String {
        fw.errors.split(separator: "\n").first { $0.contains("packets observed") }.map(String.init) ?? fw.errors
    }

    func filtered(_ fw: DemoNode.Observer) -> Int? {
        summary(fw).firstMatch(of: /, (\d+) traces left out by the kernel filter/).flatMap { Int($0.1) }
    }

    @Test("--pod, --interface with -v, and a recording replayed with the same filter: the same flows with the kernel filter, without it, and from the recording")
    func sameFlows() throws {
        let node = try DemoNode("k")
        defer { node.down() }
        let clientLXC = try node.lxc("client")
        let pod = ["--pod", "default/cni-server", "--aggregation", "none"]
        let iface = ["--interface", clientLXC, "--to-ip", "198.51.100.10", "-v", "--aggregation", "none"]
        let recording = node.work.appendingPathComponent("all.fwrec").path

        let observers = try [
            DemoNode.Observer(node: node, pod, tag: "pod"),
            DemoNode.Observer(node: node, pod + ["--no-kernel-filter"], tag: "pod-all"),
            DemoNode.Observer(node: node, pod + ["--record", recording], tag: "pod-record"),
            DemoNode.Observer(node: node, iface, tag: "iface"),
            DemoNode.Observer(node: node, iface + ["--no-kernel-filter"], tag: "iface-all"),
        ]
        defer { for fw in observers { fw.stop() } }
        try DemoNode.sh(DemoNode.script, "traffic", node.name)
        try DemoNode.sh(DemoNode.script, "traffic", node.name)
        usleep(300_000)
        for fw in observers { #expect(fw.stop() == 0, "\(fw.errors)") }
        let (podFW, podAll, podRecord, ifaceFW, ifaceAll) = (observers[0], observers[1], observers[2], observers[3], observers[4])

        // Pods resolve through the config: the server's two addresses.
        #expect(podFW.errors.contains("kernel filter: traces of packets from or to 2 prefixes"), "\(podFW.errors)")
        #expect(untimed(podFW.output).count >= 12, "\(podFW.output)")
        #expect(untimed(podFW.output) == untimed(podAll.output), "\(podFW.output)\n---\n\(podAll.output)")
        #expect(untimed(podFW.output) == untimed(podRecord.output), "\(podRecord.output)")
        let replay = try DemoNode.run([DemoNode.binary, "replay", recording] + pod.prefix(2))
        #expect(untimed(replay.stdout) == untimed(podFW.output), "\(replay.stderr)")
        #expect((filtered(podFW) ?? 0) > 0, "\(summary(podFW))")
        #expect(filtered(podAll) == nil && filtered(podRecord) == nil, "\(summary(podAll))\n\(summary(podRecord))")
        #expect(!podAll.errors.contains("kernel filter:") && !podRecord.errors.contains("kernel filter:"))

        // One device attached, no debug messages emitted (the filter keeps none), same lines.
        #expect(ifaceFW.errors.contains("kernel filter: traces of packets from or to 1 prefix; devices named \(clientLXC) only; no debug messages"),
                "\(ifaceFW.errors)")
        func attached(_ fw: DemoNode.Observer) -> Int { fw.errors.split(separator: "\n").filter { $0.contains(": attached to ") }.count }
        #expect(attached(ifaceFW) == 1, "\(ifaceFW.errors)")
        #expect(attached(ifaceAll) == 4, "\(ifaceAll.errors)")
        #expect(ifaceFW.output.contains("198.51.100.10"), "\(ifaceFW.output)")
        #expect(ifaceFW.output == ifaceAll.output, "\(ifaceFW.output)\n---\n\(ifaceAll.output)")
    }
}
