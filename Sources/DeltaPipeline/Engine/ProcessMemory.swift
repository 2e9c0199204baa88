import CAllocator

/// The process's allocator, set up for long-running syncs.
///
/// Every program that links the engine links jemalloc (the `CAllocator` target), which replaces
/// glibc's malloc: the engine's stages run on several threads and free what others allocated,
/// which glibc pays for in arena locks and free-list coalescing (a fifth of the bridge's CPU in a
/// PostgreSQL snapshot). jemalloc runs with one arena and returns freed pages after 200 ms, from
/// a background thread of its own, so peak RSS stays near the live data. Should jemalloc not be
/// the allocator in use, glibc's arenas are capped at two instead (with one per thread, peak RSS
/// grew by a third).
public enum ProcessMemory {
    /// jemalloc's version when it serves this process's malloc, else nil.
    public static let jemallocVersion: String? = {
        var buffer = [CChar](repeating: 0, count: 128)
        guard deltabridge_jemalloc_version(&buffer, buffer.count) == 1 else { return nil }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }()

    /// The allocator in use, for logs and benchmark reports.
    public static var allocator: String {
        if let jemallocVersion {
            let purging = deltabridge_jemalloc_background_thread() == 1 ? "background purging" : "purging on free"
            return "jemalloc \(jemallocVersion), \(deltabridge_jemalloc_arenas()) arena(s), \(purging)"
        }
        return "glibc malloc, at most two arenas"
    }

    /// Sets the allocator up; call first thing in `main`.
    public static func configureAllocator() {
        #if os(Linux)
        if jemallocVersion == nil { _ = glibcMallopt(mArenaMax, 2) }
        #endif
    }

    /// `M_ARENA_MAX` in glibc's `<malloc.h>`.
    private static let mArenaMax: Int32 = -8
}

#if os(Linux)
/// glibc's `mallopt` (not exported by Swift's Glibc module, whose headers omit `<malloc.h>`).
@_silgen_name("mallopt")
private func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32
#endif
