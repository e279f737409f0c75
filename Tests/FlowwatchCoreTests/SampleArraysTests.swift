import Testing
@testable import FlowwatchCore

/// The reused byte arrays of samples: each holds exactly its sample's bytes, one still held
/// downstream is never written again, and small and large samples take arrays of their own.
@Suite struct SampleArraysTests {
    static func bytes(_ count: Int, _ seed: UInt8) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: $0) &+ seed } }

    @Test func heldArraysKeepTheirBytes() {
        var arrays = SampleArrays()
        let sizes = [0, 1, 63, 64, 65, 200, 256, 300]
        let held = sizes.enumerated().map { i, n in Self.bytes(n, UInt8(i)).withUnsafeBytes { arrays.take(copying: $0) } }
        for (i, n) in sizes.enumerated() { #expect(held[i] == Self.bytes(n, UInt8(i))) }
        // Many more samples of both sizes, dropped at once: the held ones are left alone.
        for i in 0..<1000 { _ = Self.bytes(i % 2 == 0 ? 20 : 150, 9).withUnsafeBytes { arrays.take(copying: $0) } }
        for (i, n) in sizes.enumerated() { #expect(held[i] == Self.bytes(n, UInt8(i))) }
    }

    @Test func eachSizeHasArraysOfItsOwn() {
        var arrays = SampleArrays()
        var wrong = 0
        func address(_ n: Int, _ seed: UInt8) -> Int {
            let a = Self.bytes(n, seed).withUnsafeBytes { arrays.take(copying: $0) }
            if a != Self.bytes(n, seed) { wrong += 1 }
            return a.withUnsafeBufferPointer { Int(bitPattern: $0.baseAddress) }
        }
        // Samples of both sizes in turn, each dropped at once: each holds its bytes, and no array
        // serves both sizes. (How few arrays serve them is a release build's matter: a debug
        // build copies an array to test it for uniqueness, so it reuses none.)
        var small = Set<Int>(), large = Set<Int>()
        for i in 0..<200 {
            small.insert(address(1 + i % 64, UInt8(truncatingIfNeeded: i)))
            large.insert(address(65 + i % 200, UInt8(truncatingIfNeeded: i)))
        }
        #expect(small.isDisjoint(with: large))
        #expect(wrong == 0)
    }
}
