import Testing
@testable import DeltaPipeline

/// Programs built on the engine run on jemalloc with the engine's settings, not glibc's malloc.
@Suite struct ProcessMemoryTests {
    @Test func jemallocServesMallocWithOneArenaAndBackgroundPurging() {
        // This test binary links the engine as `deltabridge` does.
        #expect(ProcessMemory.jemallocVersion?.hasPrefix("5.") == true)
        #expect(ProcessMemory.allocator.hasSuffix(", 1 arena(s), background purging"))
    }
}
