/// The MariaDB benchmark suite (see the issue for its figures); `options` are the command line's `--name value` pairs.
struct MariaDBBenchmark {
    var options: [String: String]

    func run() async throws -> [Figure] {
        throw BenchmarkUnavailable(suite: "MariaDB")
    }
}
