/// Process-wide memory settings for long-running syncs.
///
/// glibc's malloc gives busy threads arenas of their own (up to eight per core) and keeps what
/// they free: with the engine's worker threads that grew a sync's peak RSS by a third. Two arenas
/// keep it bounded at no measurable cost in throughput (see the README's benchmark figures).
public enum ProcessMemory {
    /// Caps malloc arenas at two; call first thing in `main`. No effect off glibc.
    public static func limitMallocArenas() {
        #if os(Linux)
        _ = glibcMallopt(mArenaMax, 2)
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
