import DeltaConnector
import DeltaCore
import DeltaPipeline
import Foundation
import Testing

@Suite("Config: loading valid pipeline files")
struct ConfigLoaderTests {
    typealias S = ConfigTestSupport

    static let fullExample = """
        pipeline: quickstart              # required: name [A-Za-z0-9_-]+
        state_dir: .deltabridge
        ledger:
          path: quickstart.ledger.sqlite
        options:
          max_clock_skew: 5s
          tombstone_retention: 7d
          history: false
          batch_size: 1000
        stores:
          left:
            type: sqlite
            path: data/left.db
          right:
            type: sqlite
            path: ${RIGHT_DB:-data/right.db}
        flows:
          - name: people
            two_way: [left, right]
            collections:
              - namespace: people
                include: [id, name]
                exclude: [secret]
                stores:
                  left:  { table: people, key: [id], json: [prefs], time: updated_at }
                  right: { collection: persons, key: id, rename: { full_name: name } }
        """

    @Test func fullFileRoundTrips() throws {
        let (config, folder) = try S.load(Self.fullExample)
        defer { S.remove(folder) }

        #expect(config.name == "quickstart")
        #expect(config.filePath == folder + "/pipeline.yaml")
        #expect(config.location == folder + "/pipeline.yaml:1")
        #expect(config.stateDirectory == folder + "/.deltabridge")
        #expect(config.ledgerPath == folder + "/.deltabridge/quickstart.ledger.sqlite")
        #expect(config.options == PipelineOptions(maxClockSkew: 5_000_000, tombstoneRetention: 7 * 86_400_000_000,
                                                  history: false, batchSize: 1000))

        #expect(config.stores.map(\.name) == ["left", "right"])
        let left = try #require(config.store(named: "left"))
        #expect(left.type == "sqlite")
        #expect(left.values == ["path": "data/left.db"])
        #expect(left.baseDirectory == folder)
        #expect(left.location == folder + "/pipeline.yaml:11")
        #expect(try left.path("path", example: "x.db") == folder + "/data/left.db")
        let right = try #require(config.store(StoreID("right")))
        #expect(right.values == ["path": "data/right.db"])
        #expect(right.location == folder + "/pipeline.yaml:14")
        #expect(config.store(named: "nope") == nil)

        #expect(config.flows.count == 1)
        let flow = config.flows[0]
        #expect(flow.name == "people")
        #expect(flow.direction == .twoWay(["left", "right"]))
        #expect(flow.location == folder + "/pipeline.yaml:18")
        #expect(flow.collections.count == 1)

        let people = try #require(flow.collection("people"))
        #expect(people.namespace == "people")
        #expect(people.include == ["id", "name"])
        #expect(people.exclude == ["secret"])
        #expect(people.location == folder + "/pipeline.yaml:21")
        #expect(Set(people.stores.keys) == ["left", "right"])

        let l = try #require(people.stores["left"])
        #expect(l.spec == CollectionSpec(name: "people", keyAttributes: ["id"], jsonAttributes: ["prefs"]))
        #expect(l.renames.isEmpty)
        #expect(l.timeAttribute == "updated_at")
        #expect(l.location == folder + "/pipeline.yaml:25")

        let r = try #require(people.mapping(for: "right"))
        #expect(r.spec == CollectionSpec(name: "persons", keyAttributes: ["id"]))
        #expect(r.renames == ["full_name": "name"])
        #expect(r.timeAttribute == nil)
        #expect(r.logicalName("full_name") == "name")
        #expect(r.logicalName("age") == "age")
        #expect(r.storeName("name") == "full_name")
        #expect(r.storeName("age") == "age")

        #expect(people.logicalKeyAttributes == ["id"])
        #expect(people.admits("id"))
        #expect(people.admits("name"))
        #expect(!people.admits("secret"))
        #expect(!people.admits("age"), "not in include")
    }

    @Test func defaultsWhenOptionalKeysAreMissing() throws {
        let (config, folder) = try S.load(S.variant())
        defer { S.remove(folder) }
        #expect(config.name == "t")
        #expect(config.stateDirectory == folder + "/.deltabridge")
        #expect(config.ledgerPath == folder + "/.deltabridge/t.ledger.sqlite")
        #expect(config.options == PipelineOptions())
        #expect(config.options.maxClockSkew == 5_000_000)
        #expect(config.options.tombstoneRetention == 604_800_000_000)
        #expect(config.options.history == false)
        #expect(config.options.batchSize == 1000)
        #expect(config.options.snapshotBatchSize == nil && config.options.snapshotChunkSize == 1000)
        #expect(config.stores.allSatisfy { $0.batchSize == 1000 })
        let people = try #require(config.flows.first?.collections.first)
        #expect(people.include == nil)
        #expect(people.exclude.isEmpty)
        #expect(people.admits("anything"))
        #expect(people.stores["left"]?.spec.jsonAttributes == [])
    }

    @Test func optionsPathsAndOneWayFlows() throws {
        let yaml = """
            pipeline: copy-2
            state_dir: ../state
            ledger: { path: /var/lib/deltabridge/copy.sqlite }
            options:
              max_clock_skew: 500ms
              tombstone_retention: 36h
              history: yes
              batch_size: 5
              snapshot_batch_size: 12
            stores:
              pg: { type: postgres, url: "postgres://localhost/app", password: }
              a: { type: sqlite, path: /abs/a.db, journal: wal }
              b: { type: sqlite, path: b.db }
            flows:
              - name: fan-out
                from: pg
                to: [a, b]
                collections:
                  - namespace: app.orders
                    stores:
                      pg: { table: public.orders, key: [tenant, id] }
                      a: { table: orders, key: [tenant, order_id], rename: { order_id: id } }
                      b: { table: orders, key: [tenant, id] }
              - name: back
                from: a
                to: pg
                collections:
                  - namespace: notes
                    stores:
                      a: { table: notes, key: id }
                      pg: { table: notes, key: id }
            """
        let (config, folder) = try S.load(yaml)
        defer { S.remove(folder) }
        let parent = URL(fileURLWithPath: folder).deletingLastPathComponent().standardizedFileURL.path
        #expect(config.stateDirectory == parent + "/state")
        #expect(config.ledgerPath == "/var/lib/deltabridge/copy.sqlite")
        #expect(config.options == PipelineOptions(maxClockSkew: 500_000, tombstoneRetention: 36 * 3_600_000_000,
                                                  history: true, batchSize: 5, snapshotBatchSize: 12))
        #expect(config.options.snapshotChunkSize == 12)
        #expect(config.stores.map(\.name.name) == ["pg", "a", "b"])
        #expect(config.store(named: "pg")?.values == ["url": "postgres://localhost/app", "password": ""])
        #expect(config.store(named: "a")?.values == ["path": "/abs/a.db", "journal": "wal"])

        let fanOut = config.flows[0]
        #expect(fanOut.direction == .oneWay(from: "pg", to: ["a", "b"]))
        #expect(!fanOut.direction.isTwoWay)
        #expect(fanOut.direction.stores == ["pg", "a", "b"])
        #expect(fanOut.direction.sources == ["pg"])
        #expect(fanOut.direction.targets(of: "pg") == ["a", "b"])
        #expect(fanOut.direction.targets(of: "a") == [])
        let orders = try #require(fanOut.collection("app.orders"))
        #expect(orders.stores["pg"]?.spec.name == "public.orders")
        #expect(orders.stores["a"]?.spec.keyAttributes == ["tenant", "order_id"])
        #expect(orders.logicalKeyAttributes == ["tenant", "id"])
        #expect(config.flows[1].direction == .oneWay(from: "a", to: ["pg"]))
    }

    @Test func twoWayDirectionHelpers() {
        let d = FlowDirection.twoWay(["a", "b", "c"])
        #expect(d.isTwoWay)
        #expect(d.stores == ["a", "b", "c"])
        #expect(d.sources == ["a", "b", "c"])
        #expect(d.targets(of: "b") == ["a", "c"])
        #expect(d.targets(of: "z") == [])
    }

    @Test func keysAreAlwaysAdmitted() {
        let spec = CollectionSpec(name: "t", keyAttributes: ["_id"])
        let mapping = CollectionMapping(namespace: "n", include: ["name"], exclude: ["x"],
                                        stores: ["m": StoreMapping(spec: spec, renames: ["_id": "id"])])
        #expect(mapping.admits("id"))
        #expect(mapping.admits("name"))
        #expect(!mapping.admits("_id"))
        #expect(!mapping.admits("x"))
        #expect(!mapping.admits("other"))
    }

    @Test func interpolation() throws {
        let yaml = #"""
            pipeline: ${NAME:-interp}
            options:
              batch_size: ${BATCH:-250}
              history: ${HISTORY}
            stores:
              left:
                type: ${KIND:-sqlite}
                path: ${DB_DIR}/left.db
              right:
                type: sqlite
                path: "${UNSET:-${ALSO_UNSET:-nested}}.db"
                journal: 'cost: $$5 and $${NOT_A_VAR} and a lone $ sign and ${EMPTY:-was empty}'
            flows:
              - name: people
                two_way: [left, right]
                collections:
                  - namespace: people
                    stores:
                      left: { table: "${TABLE}", key: id }
                      right: { table: people, key: id, time: "${TIME_COL:-}" }
            """#
        let env = ["DB_DIR": "/data", "HISTORY": "true", "EMPTY": "", "TABLE": "persons", "TIME_COL": "changed_at"]
        let (config, folder) = try S.load(yaml, environment: env)
        defer { S.remove(folder) }
        #expect(config.name == "interp")
        #expect(config.options.batchSize == 250)
        #expect(config.options.history)
        #expect(config.store(named: "left")?.type == "sqlite")
        #expect(config.store(named: "left")?.values["path"] == "/data/left.db")
        #expect(config.store(named: "right")?.values["path"] == "nested.db")
        #expect(config.store(named: "right")?.values["journal"] == "cost: $5 and ${NOT_A_VAR} and a lone $ sign and was empty")
        let people = try #require(config.flows.first?.collections.first)
        #expect(people.stores["left"]?.spec.name == "persons")
        #expect(people.stores["right"]?.timeAttribute == "changed_at")

        // An environment value replaces the default, and is not interpolated again.
        let (other, folder2) = try S.load(yaml, environment: env.merging(["NAME": "from-env", "UNSET": "$${x}", "BATCH": "7"]) { $1 })
        defer { S.remove(folder2) }
        #expect(other.name == "from-env")
        #expect(other.options.batchSize == 7)
        // Every store's source streams in batches of the pipeline's size.
        #expect(other.stores.map(\.batchSize) == [7, 7])
        #expect(other.store(named: "right")?.values["path"] == "$${x}.db")
    }

    @Test func yamlAnchorsAndAliasesWork() throws {
        let yaml = """
            pipeline: anchors
            stores:
              left: &sqlite { type: sqlite, path: l.db }
              right: *sqlite
            flows:
              - name: people
                two_way: [left, right]
                collections:
                  - namespace: people
                    stores:
                      left: &map { table: people, key: id }
                      right: *map
            """
        let (config, folder) = try S.load(yaml)
        defer { S.remove(folder) }
        #expect(config.store(named: "right")?.values == ["path": "l.db"])
        #expect(config.flows[0].collections[0].stores["right"]?.spec.name == "people")
    }

    @Test func loadAllReadsEveryYamlFileOfAFolderSorted() throws {
        let folder = try S.makeFolder()
        defer { S.remove(folder) }
        try S.write(S.variant([1: "pipeline: bravo"]), to: folder, name: "b.yaml")
        try S.write(S.variant([1: "pipeline: alpha"]), to: folder, name: "a.yml")
        try S.write(S.variant([1: "pipeline: charlie"]), to: folder, name: "c.yaml")
        try S.write("not: a pipeline", to: folder, name: "notes.txt")
        try S.write("broken: [", to: folder, name: ".hidden.yaml")
        try FileManager.default.createDirectory(atPath: folder + "/sub.yaml", withIntermediateDirectories: true)

        let configs = try PipelineLoader.loadAll(path: folder, environment: [:], storeTypes: S.storeTypes)
        #expect(configs.map(\.name) == ["alpha", "bravo", "charlie"])
        #expect(configs.map(\.filePath) == [folder + "/a.yml", folder + "/b.yaml", folder + "/c.yaml"])

        let withSlash = try PipelineLoader.loadAll(path: folder + "/", environment: [:], storeTypes: S.storeTypes)
        #expect(withSlash.map(\.name) == ["alpha", "bravo", "charlie"])

        let single = try PipelineLoader.loadAll(path: folder + "/b.yaml", environment: [:], storeTypes: S.storeTypes)
        #expect(single.map(\.name) == ["bravo"])
    }

    @Test func loadAllRejectsDuplicateNamesNamingBothFiles() throws {
        let folder = try S.makeFolder()
        defer { S.remove(folder) }
        try S.write(S.variant([1: "pipeline: same"]), to: folder, name: "one.yaml")
        try S.write("# the second\n" + S.variant([1: "pipeline: same"]), to: folder, name: "two.yaml")
        do {
            _ = try PipelineLoader.loadAll(path: folder, environment: [:], storeTypes: S.storeTypes)
            Issue.record("expected an error")
        } catch let error as PipelineError {
            S.checkOneLine(error, file: folder + "/two.yaml", line: 2,
                           ["pipeline name 'same' is already used by \(folder)/one.yaml:1", "its own `pipeline:` name"])
        }
    }

    @Test func loadAllOnAnEmptyOrMissingFolder() throws {
        let folder = try S.makeFolder()
        defer { S.remove(folder) }
        do {
            _ = try PipelineLoader.loadAll(path: folder, environment: [:], storeTypes: S.storeTypes)
            Issue.record("expected an error")
        } catch let error as PipelineError {
            S.checkOneLine(error, file: folder, line: nil, ["no pipeline files (*.yaml, *.yml)"])
        }
        do {
            _ = try PipelineLoader.loadAll(path: folder + "/missing", environment: [:], storeTypes: S.storeTypes)
            Issue.record("expected an error")
        } catch let error as PipelineError {
            S.checkOneLine(error, file: folder + "/missing", line: nil, ["no such pipeline file or folder", "check the path"])
        }
    }

    @Test func storeTypesFromFactories() {
        struct Fake: ConnectorFactory {
            let type = "fake"
            let settingKeys: Set<String> = ["path"]
            func makeSource(_ settings: StoreSettings) throws -> any SourceConnector { fatalError() }
            func makeSink(_ settings: StoreSettings) throws -> any SinkConnector { fatalError() }
        }
        #expect(PipelineLoader.storeTypes(of: [Fake()]) == ["fake": ["path"]])
    }

    @Test func parseFromText() throws {
        let config = try PipelineLoader.parse(text: S.variant(), file: "/etc/deltabridge/x.yaml", environment: [:],
                                              storeTypes: S.storeTypes)
        #expect(config.filePath == "/etc/deltabridge/x.yaml")
        #expect(config.stateDirectory == "/etc/deltabridge/.deltabridge")
        #expect(config.stores.first?.baseDirectory == "/etc/deltabridge")
        #expect(config.stores.first?.location == "/etc/deltabridge/x.yaml:3")
    }
}

@Suite("Config: durations")
struct ConfigDurationTests {
    @Test(arguments: [
        ("500ms", Int64(500_000)), ("5s", 5_000_000), ("2m", 120_000_000), ("1h", 3_600_000_000),
        ("7d", 604_800_000_000), ("5", 5_000_000), ("0", 0), ("1.5s", 1_500_000), ("0.25", 250_000),
        ("250us", 250), ("250µs", 250), (" 10 s ", 10_000_000), ("1.5d", 129_600_000_000),
    ])
    func parses(_ text: String, _ micros: Int64) {
        #expect(DurationText.parse(text) == micros)
    }

    @Test(arguments: ["", "s", "soon", "-5s", "5x", "5 sec", "1.s", ".5s", "1e3", "5S", "99999999999999999d", "1.1234567s", "5s5"])
    func rejects(_ text: String) {
        #expect(DurationText.parse(text) == nil)
    }

    @Test func formats() {
        #expect(DurationText.format(5_000_000) == "5s")
        #expect(DurationText.format(604_800_000_000) == "7d")
        #expect(DurationText.format(1_500_000) == "1500ms")
        #expect(DurationText.format(250) == "250us")
        #expect(DurationText.format(0) == "0s")
    }
}
