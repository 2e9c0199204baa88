/// The MongoDB benchmark suite (see the issue for its figures); `options` are the command line's `--name value` pairs.
struct MongoDBBenchmark {
    var options: [String: String]

    func run() async throws -> [Figure] {
        throw BenchmarkUnavailable(suite: "MongoDB")
    }
}
