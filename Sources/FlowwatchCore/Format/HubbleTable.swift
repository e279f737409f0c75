/// `hubble observe -o table`: columns aligned like Go's `tabwriter` (minimum width 2, padding
/// 3, spaces) under a header that is printed once, before the first event.
///
///     TIMESTAMP             SOURCE          DESTINATION    TYPE            VERDICT   SUMMARY
///     Jan  1 00:20:34.567   1.1.1.1:31793   2.2.2.2:8080   Policy denied   DROPPED   TCP Flags: SYN
///
/// Aligning needs every row of a block, so `write` only stores the row's cells and `flush`
/// writes the rows stored since the last flush, each column as wide as its widest cell in that
/// batch plus three spaces (the last column, SUMMARY, is not padded). Hubble flushes once, at
/// exit; a live reader should flush after each batch it reads (or on a timer) so rows appear,
/// accepting that column widths can differ from one batch to the next. Lost events fill the
/// flow columns as Hubble's do (`-` for the empty ones); debug events, which Hubble prints in
/// a separate table, fill them the same way: the endpoint as SOURCE, the `DBG_*` type as TYPE
/// and `CPU MARK message` as SUMMARY.
public struct HubbleTableWriter: FlowOutput {
    /// Fixed for the writer's life: the NODE column must be there in every row or none.
    public let options: HubbleOptions
    /// The text of the stored cells, one after the other.
    private var cellText: [UInt8] = []
    /// Where each stored cell ends in `cellText`, row after row.
    private var cellEnds: [Int] = []
    /// Events written so far; the header goes before the first.
    private var written = 0

    public init(options: HubbleOptions = HubbleOptions()) {
        self.options = options
    }

    private var columns: Int { options.printNodeName ? 7 : 6 }

    /// Rows waiting for `flush(into:)`, the header included.
    public var pendingRows: Int { cellEnds.count / columns }

    public mutating func write(_ event: FlowEvent, into buffer: inout [UInt8]) {
        if written == 0 {
            cell { $0.appendASCII("TIMESTAMP") }
            if options.printNodeName { cell { $0.appendASCII("NODE") } }
            for title: StaticString in ["SOURCE", "DESTINATION", "TYPE", "VERDICT", "SUMMARY"] {
                cell { $0.appendASCII(title) }
            }
        }
        written += 1
        let options = options
        cell { $0.appendHubbleTime(event.time, options.timeFormat) }
        if options.printNodeName { cell { $0.append(event.nodeName) } }
        switch event {
        case .flow(let f):
            cell { $0.appendHubbleHost(f, source: true, translate: options.translateIPs) }
            cell { $0.appendHubbleHost(f, source: false, translate: options.translateIPs) }
            cell { $0.appendHubbleFlowType(f) }
            cell { $0.append(f.verdict.name) }
            cell { $0.appendHubbleSummary(f) }
        case .debug(let d):
            cell { $0.appendHubbleEndpointShort(d.source) }
            cell { $0.appendASCII("-") }
            cell { $0.appendHubbleDebugType(d) }
            cell { $0.appendASCII("-") }
            cell {
                $0.appendHubbleCPU(d.cpu)
                $0.append(UInt8(ascii: " "))
                $0.appendHexPrefixed(d.hash)
                $0.append(UInt8(ascii: " "))
                $0.append(d.message)
            }
        case .lost(let l):
            cell { $0.append(l.source.name) }
            cell { $0.appendASCII("-") }
            cell { $0.appendASCII("EVENTS LOST") }
            cell { $0.appendASCII("-") }
            cell { $0.appendHubbleLostCount(l, separator: " - ", options.timeFormat) }
        }
    }

    public mutating func flush(into buffer: inout [UInt8]) {
        let rows = pendingRows
        guard rows > 0 else { return }
        // tabwriter: a column is as wide as its widest cell plus the padding, at least the
        // minimum width; widths count characters, not bytes.
        var widths = [Int](repeating: 2, count: columns - 1)
        for row in 0..<rows {
            for column in 0..<(columns - 1) {
                widths[column] = max(widths[column], characterCount(row * columns + column) + 3)
            }
        }
        for row in 0..<rows {
            for column in 0..<columns {
                let index = row * columns + column
                let start = index == 0 ? 0 : cellEnds[index - 1]
                buffer.append(contentsOf: cellText[start..<cellEnds[index]])
                if column < columns - 1 {
                    buffer.append(contentsOf: repeatElement(UInt8(ascii: " "), count: widths[column] - characterCount(index)))
                }
            }
            buffer.append(UInt8(ascii: "\n"))
        }
        cellText.removeAll(keepingCapacity: true)
        cellEnds.removeAll(keepingCapacity: true)
    }

    /// Stores one cell written by `fill`.
    private mutating func cell(_ fill: (inout [UInt8]) -> Void) {
        fill(&cellText)
        cellEnds.append(cellText.count)
    }

    /// Characters (UTF-8 sequences) in stored cell `index`.
    private func characterCount(_ index: Int) -> Int {
        let start = index == 0 ? 0 : cellEnds[index - 1]
        var count = 0
        for byte in cellText[start..<cellEnds[index]] where byte & 0xC0 != 0x80 { count += 1 }
        return count
    }
}
