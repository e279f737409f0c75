import CFlowwatchABI
import Testing
@testable import FlowwatchCore

/// The decoder's layout tables against bpf/events.h, the ABI flowwatch's datapath emits: the
/// newest version of each message must have the size and field offsets the C header has.
@Suite struct ABILayoutTests {
    @Test func messageTypes() {
        #expect(MonitorMessageType.drop.rawValue == UInt8(FW_NOTIFY_DROP.rawValue))
        #expect(MonitorMessageType.debug.rawValue == UInt8(FW_NOTIFY_DBG_MSG.rawValue))
        #expect(MonitorMessageType.capture.rawValue == UInt8(FW_NOTIFY_DBG_CAPTURE.rawValue))
        #expect(MonitorMessageType.trace.rawValue == UInt8(FW_NOTIFY_TRACE.rawValue))
    }

    @Test func headerLengths() {
        #expect(NotifyLayout.captureHeaderLength == MemoryLayout<fw_capture_hdr>.size)
        #expect(NotifyLayout.versionOffset == MemoryLayout<fw_capture_hdr>.offset(of: \.version))
        #expect(NotifyLayout.extVersionOffset == MemoryLayout<fw_capture_hdr>.offset(of: \.ext_version))
        #expect(NotifyLayout.debugLength == MemoryLayout<fw_debug_msg>.size)
        #expect(NotifyLayout.traceLengths[Int(FW_NOTIFY_TRACE_VER)] == MemoryLayout<fw_trace_notify>.size)
        #expect(NotifyLayout.dropLengths[Int(FW_NOTIFY_DROP_VER)] == MemoryLayout<fw_drop_notify>.size)
        #expect(NotifyLayout.captureLengths[Int(FW_NOTIFY_CAPTURE_VER)] == MemoryLayout<fw_debug_capture_msg>.size)
    }

    /// The offsets MonitorDecoder reads each field at.
    @Test func fieldOffsets() {
        typealias T = fw_trace_notify
        #expect(MemoryLayout<T>.offset(of: \.hdr.len_orig) == 8)
        #expect(MemoryLayout<T>.offset(of: \.hdr.len_cap) == 12)
        #expect(MemoryLayout<T>.offset(of: \.src_label) == 16)
        #expect(MemoryLayout<T>.offset(of: \.dst_label) == 20)
        #expect(MemoryLayout<T>.offset(of: \.dst_id) == 24)
        #expect(MemoryLayout<T>.offset(of: \.reason) == 26)
        #expect(MemoryLayout<T>.offset(of: \.flags) == 27)
        #expect(MemoryLayout<T>.offset(of: \.ifindex) == 28)
        #expect(MemoryLayout<T>.offset(of: \.orig_ip) == 32)
        #expect(MemoryLayout<T>.offset(of: \.ip_trace_id) == 48)
        typealias D = fw_drop_notify
        #expect(MemoryLayout<D>.offset(of: \.src_label) == 16)
        #expect(MemoryLayout<D>.offset(of: \.dst_label) == 20)
        #expect(MemoryLayout<D>.offset(of: \.dst_id) == 24)
        #expect(MemoryLayout<D>.offset(of: \.line) == 28)
        #expect(MemoryLayout<D>.offset(of: \.file) == 30)
        #expect(MemoryLayout<D>.offset(of: \.ext_error) == 31)
        #expect(MemoryLayout<D>.offset(of: \.ifindex) == 32)
        #expect(MemoryLayout<D>.offset(of: \.flags) == 36)
        #expect(MemoryLayout<D>.offset(of: \.ip_trace_id) == 40)
        #expect(MemoryLayout<fw_debug_msg>.offset(of: \.arg1) == 8)
        #expect(MemoryLayout<fw_debug_msg>.offset(of: \.arg3) == 16)
        #expect(MemoryLayout<fw_debug_capture_msg>.offset(of: \.arg1) == 16)
        #expect(MemoryLayout<fw_debug_capture_msg>.offset(of: \.arg2) == 20)
    }

    /// The observation points, reasons and flags have their twins in the C header.
    @Test func enumTwins() {
        #expect(TraceObservationPoint.toEndpoint.rawValue == UInt8(FW_TRACE_TO_LXC.rawValue))
        #expect(TraceObservationPoint.toHost.rawValue == UInt8(FW_TRACE_TO_HOST.rawValue))
        #expect(TraceObservationPoint.fromEndpoint.rawValue == UInt8(FW_TRACE_FROM_LXC.rawValue))
        #expect(TraceObservationPoint.fromHost.rawValue == UInt8(FW_TRACE_FROM_HOST.rawValue))
        #expect(TraceObservationPoint.fromNetwork.rawValue == UInt8(FW_TRACE_FROM_NETWORK.rawValue))
        #expect(TraceObservationPoint.toNetwork.rawValue == UInt8(FW_TRACE_TO_NETWORK.rawValue))
        #expect(TraceObservationPoint.toCrypto.rawValue == UInt8(FW_TRACE_TO_CRYPTO.rawValue))
        #expect(TraceReason.new.rawValue == UInt8(FW_TRACE_REASON_NEW.rawValue))
        #expect(TraceReason.reply.rawValue == UInt8(FW_TRACE_REASON_REPLY.rawValue))
        #expect(TraceReason.unknown.rawValue == UInt8(FW_TRACE_REASON_UNKNOWN.rawValue))
        #expect(TraceFlags.ipv6.rawValue == UInt8(FW_CLS_FLAG_IPV6))
        #expect(TraceFlags.l3Device.rawValue == UInt8(FW_CLS_FLAG_L3_DEV))
        #expect(DebugMessageType.localDelivery.rawValue == UInt8(FW_DBG_LOCAL_DELIVERY.rawValue))
        #expect(DebugMessageType.conntrackMatch.rawValue == UInt8(FW_DBG_CT_MATCH.rawValue))
        #expect(DebugMessageType.conntrackVerdict.rawValue == UInt8(FW_DBG_CT_VERDICT.rawValue))
        #expect(DebugMessageType.conntrackLookup4Part1.rawValue == UInt8(FW_DBG_CT_LOOKUP4_1.rawValue))
        #expect(DebugMessageType.conntrackLookup4Part2.rawValue == UInt8(FW_DBG_CT_LOOKUP4_2.rawValue))
        #expect(DebugMessageType.conntrackCreated4.rawValue == UInt8(FW_DBG_CT_CREATED4.rawValue))
        #expect(DebugMessageType.conntrackLookup6Part1.rawValue == UInt8(FW_DBG_CT_LOOKUP6_1.rawValue))
        #expect(DebugMessageType.conntrackLookup6Part2.rawValue == UInt8(FW_DBG_CT_LOOKUP6_2.rawValue))
        #expect(DebugMessageType.conntrackCreated6.rawValue == UInt8(FW_DBG_CT_CREATED6.rawValue))
        #expect(DebugMessageType.identityMapFailed4.rawValue == UInt8(FW_DBG_IP_ID_MAP_FAILED4.rawValue))
        #expect(DebugMessageType.identityMapFailed6.rawValue == UInt8(FW_DBG_IP_ID_MAP_FAILED6.rawValue))
        #expect(DebugMessageType.identityMapSucceeded4.rawValue == UInt8(FW_DBG_IP_ID_MAP_SUCCEED4.rawValue))
        #expect(DebugMessageType.identityMapSucceeded6.rawValue == UInt8(FW_DBG_IP_ID_MAP_SUCCEED6.rawValue))
        #expect(SecurityIdentity.host.rawValue == UInt32(FW_IDENTITY_HOST))
        #expect(SecurityIdentity.world.rawValue == UInt32(FW_IDENTITY_WORLD))
    }
}
