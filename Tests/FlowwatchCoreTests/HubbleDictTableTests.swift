import Testing
@testable import FlowwatchCore

/// `hubble observe -o dict` and `-o table`, against Hubble's printer goldens.
@Suite struct HubbleDictTableTests {
    typealias F = FlowFixtures
    static let node = HubbleOptions(printNodeName: true)

    @Test func dictFlow() {
        #expect(hubbleText([.flow(HubbleSamples.flow)], .dict) == """
              TIMESTAMP: Jan  1 00:20:34.567
                 SOURCE: 1.1.1.1:31793
            DESTINATION: 2.2.2.2:8080
                   TYPE: Policy denied
                VERDICT: DROPPED
                SUMMARY: TCP Flags: SYN

            """)
        #expect(hubbleText([.flow(HubbleSamples.flow)], .dict, Self.node) == """
              TIMESTAMP: Jan  1 00:20:34.567
                   NODE: k8s1
                 SOURCE: 1.1.1.1:31793
            DESTINATION: 2.2.2.2:8080
                   TYPE: Policy denied
                VERDICT: DROPPED
                SUMMARY: TCP Flags: SYN

            """)
    }

    @Test func dictDebugAndLost() {
        #expect(hubbleText([.debug(HubbleSamples.debug)], .dict, Self.node) == """
              TIMESTAMP: Jan  1 00:20:34.567
                   NODE: k8s1
                   TYPE: DBG_CT_VERDICT
                   FROM: cilium-test/pod-to-a-denied-cnp-75cb89dfd-vqhd9 (ID: 690)
                   MARK: 0xabffcd1
                    CPU: 01
                MESSAGE: CT verdict: New, revnat=0

            """)
        var lost = HubbleSamples.lostWithTimes
        lost.nodeName = "node-name"
        #expect(hubbleText([.lost(lost)], .dict, Self.node) == """
              TIMESTAMP: Jan  1 00:20:34.567
                   NODE: node-name
                 SOURCE: HUBBLE_RING_BUFFER
                   TYPE: EVENTS LOST
                VERDICT: -
                SUMMARY: CPU(5) - 1 (first: Jan  1 00:20:30.567, last: Jan  1 00:20:38.567)

            """)
    }

    /// Blocks after the first start with twelve dashes, whatever their kind.
    @Test func dictSeparators() throws {
        let text = hubbleText([try F.event(F.toEndpointSYN), .lost(HubbleSamples.lost), .debug(HubbleSamples.debug)], .dict)
        #expect(text.components(separatedBy: "------------\n").count == 3)
        #expect(text.hasPrefix("""
              TIMESTAMP: Nov 21 09:28:33.123
                 SOURCE: default/client:12544
            DESTINATION: default/server:80
                   TYPE: to-endpoint
                VERDICT: FORWARDED
                SUMMARY: TCP Flags: SYN
            ------------
              TIMESTAMP: Jan  1 00:20:34.567
                 SOURCE: HUBBLE_RING_BUFFER

            """))
    }

    @Test func tableFlow() {
        #expect(hubbleText([.flow(HubbleSamples.flow)], .table) == """
            TIMESTAMP             SOURCE          DESTINATION    TYPE            VERDICT   SUMMARY
            Jan  1 00:20:34.567   1.1.1.1:31793   2.2.2.2:8080   Policy denied   DROPPED   TCP Flags: SYN

            """)
        #expect(hubbleText([.flow(HubbleSamples.flow)], .table, Self.node) == """
            TIMESTAMP             NODE   SOURCE          DESTINATION    TYPE            VERDICT   SUMMARY
            Jan  1 00:20:34.567   k8s1   1.1.1.1:31793   2.2.2.2:8080   Policy denied   DROPPED   TCP Flags: SYN

            """)
    }

    @Test func tableLost() {
        #expect(hubbleText([.lost(HubbleSamples.lost)], .table) == """
            TIMESTAMP             SOURCE               DESTINATION   TYPE          VERDICT   SUMMARY
            Jan  1 00:20:34.567   HUBBLE_RING_BUFFER   -             EVENTS LOST   -         CPU(5) - 1

            """)
        var lost = HubbleSamples.lostWithTimes
        lost.nodeName = "node-name"
        #expect(hubbleText([.lost(lost)], .table, Self.node) == """
            TIMESTAMP             NODE        SOURCE               DESTINATION   TYPE          VERDICT   SUMMARY
            Jan  1 00:20:34.567   node-name   HUBBLE_RING_BUFFER   -             EVENTS LOST   -         CPU(5) - 1 (first: Jan  1 00:20:30.567, last: Jan  1 00:20:38.567)

            """)
    }

    /// Columns fit the widest cell of the batch; debug events fill the flow columns.
    @Test func tableMixedRows() throws {
        let events: [FlowEvent] = [
            try F.event(F.toEndpointSYN),
            .debug(HubbleSamples.debug),
            try F.event(Message.dropV3(reason: 133, source: 149, srcIdentity: 2, dstIdentity: 11575, dstID: 149,
                                       line: 1, file: 2, ifindex: 12,
                                       packet: F.tcp4(IPv4Address(1, 1, 1, 1), 999, F.server, 80, flags: F.syn))),
        ]
        #expect(hubbleText(events, .table) == """
            TIMESTAMP             SOURCE                                                      DESTINATION         TYPE             VERDICT     SUMMARY
            Nov 21 09:28:33.123   default/client:12544                                        default/server:80   to-endpoint      FORWARDED   TCP Flags: SYN
            Jan  1 00:20:34.567   cilium-test/pod-to-a-denied-cnp-75cb89dfd-vqhd9 (ID: 690)   -                   DBG_CT_VERDICT   -           01 0xabffcd1 CT verdict: New, revnat=0
            Nov 21 09:28:33.123   1.1.1.1:999                                                 default/server:80   Policy denied    DROPPED     TCP Flags: SYN

            """)
    }

    /// Rows wait for a flush; the header comes once, before the first row ever written;
    /// widths are per batch and count characters, not bytes.
    @Test func tableFlushes() {
        var table = HubbleTableWriter()
        var out: [UInt8] = []
        table.write(.lost(HubbleSamples.lost), into: &out)
        #expect(out.isEmpty)
        #expect(table.pendingRows == 2)
        table.flush(into: &out)
        #expect(table.pendingRows == 0)
        var flow = HubbleSamples.flow
        flow.source = Flow.Endpoint(namespace: "nämespace", podName: "pöd")
        table.write(.flow(flow), into: &out)
        table.flush(into: &out)
        table.flush(into: &out)
        #expect(String(decoding: out, as: UTF8.self) == """
            TIMESTAMP             SOURCE               DESTINATION   TYPE          VERDICT   SUMMARY
            Jan  1 00:20:34.567   HUBBLE_RING_BUFFER   -             EVENTS LOST   -         CPU(5) - 1
            Jan  1 00:20:34.567   nämespace/pöd:31793   2.2.2.2:8080   Policy denied   DROPPED   TCP Flags: SYN

            """)
    }
}
