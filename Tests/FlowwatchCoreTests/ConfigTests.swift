import FlowwatchCore
import Testing

@Suite struct ConfigTests {
    @Test("the documented sample parses, and JSON parses the same as YAML")
    func sampleAndJSON() throws {
        let yaml = """
            node: n1
            hostEndpoint: 3000
            endpoints:
              - {id: 2073, interface: lxc1, identity: 22099, pod: client, namespace: default, labels: ["k8s:app=client"], ips: [10.244.0.102, "fd00::66"]}
            prefixes:
              - {cidr: 10.244.2.0/24, identity: 17840}
            identities:
              - {id: 17840, labels: ["k8s:app=server"]}
            """
        let json = """
            {"node": "n1", "hostEndpoint": 3000,
             "endpoints": [{"id": 2073, "interface": "lxc1", "identity": 22099, "pod": "client", "namespace": "default",
                            "labels": ["k8s:app=client"], "ips": ["10.244.0.102", "fd00::66"]}],
             "prefixes": [{"cidr": "10.244.2.0/24", "identity": 17840}],
             "identities": [{"id": 17840, "labels": ["k8s:app=server"]}]}
            """
        let a = try NodeConfig.parse(yaml), b = try NodeConfig.parse(json)
        #expect(a == b)
        #expect(a.nodeName == "n1" && a.hostEndpointID == 3000)
        #expect(a.endpoint(interface: "lxc1")?.id == 2073)
        #expect(a.endpoint(for: IPAddress("fd00::66")!)?.pod == "client")
        #expect(a.identityLabels[17840] == ["k8s:app=server"])
        // Endpoint addresses become host prefixes in the ipcache, after the configured ones.
        #expect(a.ipcacheEntries.map(\.prefix.description) == ["10.244.2.0/24", "10.244.0.102/32", "fd00::66/128"])
    }

    static let mistakes: [(String, String)] = [
        ("endpoints:\n  - id: 1\n    identity: 2\n    ips: [10.0.0.300]\n", "config:4:11: endpoints[0].ips[0]: '10.0.0.300' is not an IPv4 or IPv6 address"),
        ("endpoints:\n  - id: 1\n    identitty: 2\n", "config:3:5: endpoints[0].identitty: unknown key"),
        ("endpoints:\n  - identity: 2\n", "config:2:5: endpoints[0]: missing key 'id'"),
        ("endpoints:\n  - {id: 0, identity: 2}\n", "config:2:10: endpoints[0].id: expected a whole number from 1 to 65535"),
        ("prefixes:\n  - {cidr: 10.0.0.0/33, identity: 2}\n", "config:2:12: prefixes[0].cidr: '10.0.0.0/33' is not an address or prefix"),
        ("prefixes:\n  - {cidr: 10.0.0.0/8, identity: 99999999}\n", "config:2:34: prefixes[0].identity: identity 99999999 is out of range"),
        ("endpoints:\n  - {id: 1, identity: 2}\n  - {id: 1, identity: 3}\n", "config:3:5: endpoints[1].id: endpoint id 1 is used twice"),
        ("endpoints:\n  - {id: 1, identity: 2, ips: [10.0.0.1]}\n  - {id: 2, identity: 3, ips: [10.0.0.1]}\n", "endpoints[1].ips: address 10.0.0.1 belongs to two endpoints"),
        ("endpoints:\n  - {id: 1, identity: 2, interface: lxc0123456789abcdef}\n", "endpoints[0].interface: interface names are 1 to 15 bytes"),
        ("endpoints: [\n", "config:2:1: not valid YAML"),
        ("nodes: x\n", "config:1:1: nodes: unknown key"),
        ("- 1\n", "config:1:1: expected a mapping of keys"),
    ]

    @Test("a mistake names the line, column and key", arguments: mistakes.indices)
    func mistakesAreNamed(index: Int) {
        let (text, expected) = Self.mistakes[index]
        do {
            _ = try NodeConfig.parse(text)
            Issue.record("accepted: \(text)")
        } catch {
            #expect(error.description.contains(expected), "\(error)")
        }
    }

    @Test("prefixes mask their host bits and contain what they should")
    func prefixes() throws {
        let p = try #require(IPPrefix("10.244.1.7/16"))
        #expect(p.description == "10.244.0.0/16")
        #expect(p.contains(IPAddress("10.244.200.1")!) && !p.contains(IPAddress("10.245.0.1")!))
        let v6 = try #require(IPPrefix("fd00:10:244::1/64"))
        #expect(v6.description == "fd00:10:244::/64" && v6.contains(IPAddress("fd00:10:244::99")!))
        #expect(!v6.contains(IPAddress("10.244.0.1")!))
        #expect(IPPrefix("10.0.0.1/-1") == nil && IPPrefix("::/129") == nil && IPPrefix("x/8") == nil)
        #expect(IPAddress("10.0.0.1")!.paddedBytes == [10, 0, 0, 1] + [UInt8](repeating: 0, count: 12))
    }
}
