import Testing
@testable import FlowwatchDatapath

@Suite struct DatapathOptionsTests {
    /// 16 MiB over all CPUs, 1 to 4 MiB per CPU, a power of two.
    @Test(arguments: [(0, 1024), (1, 1024), (2, 1024), (4, 1024), (5, 512), (8, 512), (12, 256), (16, 256), (64, 256), (512, 256)])
    func defaultPerfPagesScaleWithTheCPUs(cpus: Int, pages: Int) {
        #expect(DatapathOptions.pagesPerCPU(cpus: cpus) == pages)
    }
}
