import CMongoC
#if canImport(Glibc)
import Glibc
#endif

/// A checked MongoDB connection string: what libmongoc made of it, and its database path.
///
/// Invariant: `url` parsed with `mongoc_uri_new_with_error`.
struct MongoURL: Sendable {
    var url: String
    var database: String?

    static func parse(_ url: String) throws(MongoServerError) -> MongoURL {
        MongoClientLibrary.initialize()
        var error = bson_error_t()
        guard let uri = mongoc_uri_new_with_error(url, &error) else {
            throw MongoServerError(domain: error.domain, code: error.code, message: String(cString: deltabridge_error_message(&error)))
        }
        defer { mongoc_uri_destroy(uri) }
        let database = mongoc_uri_get_database(uri).map { String(cString: $0) }
        return MongoURL(url: url, database: database)
    }
}

/// libmongoc's process-wide initialisation, done once before the first client: its log goes to
/// standard error for warnings and worse only (its default handler also prints debug messages,
/// such as every failed speculative authentication), and it keeps no shared-memory counters.
enum MongoClientLibrary {
    private static let once: Void = {
        // Performance counters in shared memory are for mongoc's own tooling; without them
        // mongoc_init does not warn "Falling back to malloc for counters" where /dev/shm is
        // unavailable (which would break the one-line errors of the CLI).
        setenv("MONGOC_DISABLE_SHM", "1", 0)
        mongoc_log_set_handler({ level, domain, message, _ in
            guard level.rawValue <= MONGOC_LOG_LEVEL_WARNING.rawValue, let message else { return }
            let line = "deltabridge: warning: libmongoc \(domain.map { String(cString: $0) } ?? ""): \(String(cString: message))\n"
            var bytes = Array(line.utf8)
            _ = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
        }, nil)
        mongoc_init()
    }()

    static func initialize() { _ = once }

    /// Debian's libmongoc initialises itself as the library loads, before any code of ours runs,
    /// and keeps its counters in `/dev/shm/mongoc-<pid>`, which only a clean exit removes: a
    /// killed process would leave the file behind. Its name is removed at once (the mapping
    /// stays valid); nothing else uses it.
    static func forgetSharedMemoryName() {
        _ = forgotten
    }

    private static let forgotten: Void = {
        unlink("/dev/shm/mongoc-\(getpid())")
    }()
}
