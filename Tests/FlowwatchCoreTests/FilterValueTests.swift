import Testing
@testable import FlowwatchCore

/// The value matchers on their own: label selectors, pod patterns, node name patterns, IP sets.
@Suite struct FilterValueTests {
    static let labels = [
        "k8s:app=web", "k8s:io.kubernetes.pod.namespace=shop", "k8s:tier=1", "container:app=sidecar",
        "k8s:canary", "reserved:host", "$init", "k8s:weird=a:b",
    ]

    @Test("label selector forms", arguments: [
        // equality, with and without source, and both spellings
        ("app=web", true), ("app==web", true), ("k8s:app=web", true), ("app=sidecar", false),
        ("container:app=sidecar", true), ("container:app=web", false), ("k8s:app = web", true),
        // inequality: holds when the value differs or the key is missing
        ("app!=web", false), ("app!=db", true), ("nothere!=x", true), ("k8s:app!=sidecar", true),
        // sets
        ("app in (db, web)", true), ("app in (db)", false), ("app notin (db)", true), ("app notin (db,web)", false),
        ("missing notin (a)", true), ("missing in (a)", false), ("k8s:app in (sidecar)", false),
        // existence
        ("canary", true), ("k8s:canary", true), ("!canary", false), ("!missing", true), ("container:canary", false),
        ("canary=", true), ("canary in ()", true), ("app=", false),
        // reserved labels, also as $name
        ("reserved:host", true), ("reserved:init", true), ("host", true), ("reserved:world", false),
        // several requirements: all must hold
        ("app=web,tier=1", true), ("app=web, tier=2", false), ("app=web,!canary", false),
        ("io.kubernetes.pod.namespace=shop,app", true),
        // integers
        ("tier>0", true), ("tier<1", false), ("tier<2", true), ("app>0", false), ("missing>0", false),
        // the first ':' ends the source, the first '=' the key: the value may hold ':'
        ("weird=a:b", true), ("k8s:weird", true), ("weird=a", false),
        // the empty selector selects everything
        ("", true),
    ])
    func selector(_ text: String, _ selected: Bool) throws {
        let selector = try LabelSelector(text)
        #expect(selector.matches(Self.labels) == selected)
        #expect(selector.description == text)
    }

    @Test("a key with several sources: the first label's value counts")
    func firstValue() throws {
        #expect(try LabelSelector("app=web").matches(["k8s:app=web", "container:app=sidecar"]))
        #expect(try !LabelSelector("app=sidecar").matches(["k8s:app=web", "container:app=sidecar"]))
        #expect(try LabelSelector(":app=web").matches(["k8s:app=web"]))
    }

    @Test("label selector errors", arguments: [
        ("app in a", "expected '(' after 'in' or 'notin'"),
        ("app in (a b)", "expected a value, ',' or ')' in the value set, found 'b'"),
        ("=x", "expected a label key"),
        ("!", "expected a label key"),
        ("!app=x", "expected ',' or the end after a requirement, found '='"),
        ("app (x)", "expected '=', '==', '!=', 'in', 'notin', '>', '<', ',' or the end after a key, found '('"),
        ("app>x", "expected an integer after '>'"),
        ("k8s:=x", "expected a key after the source in 'k8s:'"),
        ("app=(", "expected a value, found '('"),
        ("a,,b", "expected a label key"),
    ])
    func selectorError(_ text: String, _ message: String) {
        #expect(throws: LabelSelectorError(description: message)) { try LabelSelector(text) }
    }

    @Test("pod patterns", arguments: [
        ("client", "default", "client-7dccb", true),
        ("client", "kube-system", "client", false),
        ("default/client", "default", "client", true),
        ("kube-system/", "kube-system", "coredns-1", true),
        ("kube-system/", "default", "x", false),
        ("/x", "", "x1", true),
        ("a/b/c", "a", "bc", true),
        ("default/", "", "", false),
    ])
    func pods(_ pattern: String, _ namespace: String, _ pod: String, _ matches: Bool) throws {
        let p = try #require(PodPattern(pattern))
        #expect(p.matches(namespace: namespace, podName: pod) == matches)
    }

    @Test func podPatternParts() throws {
        #expect(PodPattern("") == nil && PodPattern("/") == nil)
        let p = try #require(PodPattern("ns/web"))
        #expect(p.namespace == "ns" && p.prefix == "web" && p.explicitNamespace == "ns")
        #expect(try #require(PodPattern("web")).explicitNamespace == nil)
        #expect(try #require(PodPattern("/web")).explicitNamespace == nil)
    }

    /// Hubble's own cases (`nodename_test.go`), and the wildcard's alphabet.
    @Test("node name patterns", arguments: [
        ("/", "default/k8s1", true), ("/", "k8s1", true),
        ("cluster-name/", "cluster-name/k8s1", true), ("cluster-name/", "default/k8s1", false), ("cluster-name/", "k8s1", false),
        ("k8s1", "default/k8s1", true), ("k8s1", "default/k8s2", false), ("k8s1", "k8s1", true),
        ("k8s*", "default/k8s1", true), ("k8s*", "default/runtime1", false), ("k8s*", "k8s1", true),
        ("cluster-*/k8s1", "cluster-1/k8s1", true), ("cluster-*/k8s1", "cluster-1/k8s2", false),
        ("cluster-*/k8s1", "default/k8s1", false), ("cluster-*/k8s1", "k8s1", false),
        ("cluster-name/*.com", "cluster-name/foo.com", true), ("cluster-name/*.com", "cluster-name/foo.bar.com", true),
        ("cluster-name/*.com", "cluster-name/foo.com.org", false), ("cluster-name/*.com", "default/foo.com", false),
        // canonical form: case, spaces, one trailing dot
        ("K8S1", "k8s1", true), (" k8s1. ", "k8s1", true), ("k8s1", "K8S1", false),
        // '*' covers [-.0-9a-z], not '_'; '_' matches itself
        ("node*", "node_1", false), ("node_*", "node_1", true), ("*_*", "a_b", true), ("*_*", "ab", false),
        ("a*b*c", "axxbyyc", true), ("a*b*c", "axxbyy", false), ("*", "", false),
        // an empty part is any FQDN-like name
        ("/", "default/", false), ("/", "default/a..b", false), ("/", "default/a.b_c", true),
    ])
    func nodeNames(_ pattern: String, _ name: String, _ matches: Bool) throws {
        #expect(try NodeNamePattern(pattern).matches(nodeName: name) == matches)
    }

    @Test("IP sets: addresses, CIDRs, both families")
    func ipSets() throws {
        var set = IPPrefixSet()
        set.insert(try #require(IPPrefix("10.0.0.0/8")))
        set.insert(try #require(IPPrefix("192.168.1.7")))
        set.insert(try #require(IPPrefix("fd00::/16")))
        set.insert(try #require(IPPrefix("2001:db8::1")))
        set.insert(try #require(IPPrefix("10.0.0.0/8")))
        #expect(set.prefixes.count == 4)
        for yes in ["10.1.2.3", "192.168.1.7", "fd00:1::1", "2001:db8::1"] {
            #expect(set.contains(try #require(IPAddress(yes))), "\(yes)")
        }
        for no in ["11.0.0.1", "192.168.1.8", "fd01::1", "2001:db8::2", "::ffff:10.0.0.1", "::a00:1"] {
            #expect(!set.contains(try #require(IPAddress(no))), "\(no)")
        }
        let all = IPPrefixSet([try #require(IPPrefix("0.0.0.0/0")), try #require(IPPrefix("::/0"))])
        #expect(all.contains(try #require(IPAddress("1.2.3.4"))))
        #expect(all.contains(try #require(IPAddress("::1"))))
        let v6Host = IPPrefixSet([try #require(IPPrefix("fd00::1:0:0:0:1/65"))])
        #expect(v6Host.contains(try #require(IPAddress("fd00::1:7fff:0:0:9"))))
        #expect(!v6Host.contains(try #require(IPAddress("fd00::1:8000:0:0:1"))))
    }
}
