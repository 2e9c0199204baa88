import DeltaPipeline
import Foundation
import Testing

/// One bad pipeline file and what its one-line error must say.
struct ConfigErrorCase: Sendable, CustomTestStringConvertible {
    let label: String
    let yaml: String
    let line: Int?
    let fragments: [String]
    let environment: [String: String]

    init(label: String, yaml: String, line: Int?, _ fragments: [String], environment: [String: String] = [:]) {
        self.label = label
        self.yaml = yaml
        self.line = line
        self.fragments = fragments
        self.environment = environment
    }

    var testDescription: String { label }
}

@Suite("Config: one-line errors with file, line and fix")
struct ConfigErrorTests {
    typealias S = ConfigTestSupport

    static let cases: [ConfigErrorCase] = [
        // YAML itself
        .init(label: "broken YAML (indentation)", yaml: "pipeline: q\nstores:\n  left:\n    type: sqlite\n   path: x\nflows: []\n",
              line: 5, ["invalid YAML: did not find expected key", "fix the syntax at line 5, column 4"]),
        .init(label: "broken YAML (unclosed flow mapping)", yaml: "pipeline: q\nstores:\n  left: {type: sqlite\nflows: []\n",
              line: 4, ["invalid YAML", "while parsing a flow mapping at line 3", "brackets"]),
        .init(label: "tab indentation", yaml: "pipeline: q\nstores:\n\tleft: {type: sqlite}\n",
              line: 3, ["invalid YAML", "indent with spaces"]),
        .init(label: "two documents", yaml: "pipeline: q\n---\npipeline: r\n",
              line: 2, ["more than one YAML document", "one pipeline per file"]),
        .init(label: "duplicate key", yaml: S.variant([4: "  left: { type: sqlite }"]),
              line: 4, ["key 'left' appears twice in the same mapping (first at line 3)", "keep only one 'left:'"]),
        .init(label: "empty file", yaml: "# nothing yet\n", line: 1, ["the pipeline file is empty", "pipeline: NAME"]),
        .init(label: "top level not a mapping", yaml: "# list\n- pipeline: q\n- stores: {}\n",
              line: 2, ["the top level must be a mapping", "got a list", "start the file with `pipeline: NAME`"]),
        .init(label: "top level a scalar", yaml: "just text\n", line: 1, ["the top level must be a mapping", "got the value 'just text'"]),

        // unknown keys
        .init(label: "unknown top-level key with suggestion", yaml: S.variant([2: "storse:"]),
              line: 2, ["unknown key 'storse' in the pipeline file", "did you mean 'stores'?"]),
        .init(label: "unknown options key without suggestion", yaml: "pipeline: t\noptions:\n  colour: red\n",
              line: 3, ["unknown key 'colour' in options", "remove it; known keys here: max_clock_skew, tombstone_retention, history, batch_size"]),
        .init(label: "unknown options key with suggestion", yaml: "pipeline: t\noptions:\n  batchsize: 10\n",
              line: 3, ["unknown key 'batchsize' in options", "did you mean 'batch_size'?"]),
        .init(label: "unknown ledger key", yaml: "pipeline: t\nledger:\n  pth: x.sqlite\n",
              line: 3, ["unknown key 'pth' in ledger", "did you mean 'path'?"]),
        .init(label: "unknown flow key", yaml: S.variant([7: "    two-way: [left, right]"]),
              line: 7, ["unknown key 'two-way' in flow 'people'", "did you mean 'two_way'?"]),
        .init(label: "unknown key in a flow without a name", yaml: S.variant([6: "  - nmae: people"]),
              line: 6, ["unknown key 'nmae' in a flow", "did you mean 'name'?"]),
        .init(label: "YAML merge keys are not supported", yaml: S.variant([11: "          left: { <<: {table: people}, key: id }"]),
              line: 11, ["unknown key '<<' in store 'left'", "remove it; known keys here: table, collection, key, json, rename, time"]),
        .init(label: "unknown collection key", yaml: S.variant([9: "      - namespace: people\n        includes: [id]"]),
              line: 10, ["unknown key 'includes' in collection 'people' of flow 'people'", "did you mean 'include'?"]),
        .init(label: "unknown store-mapping key", yaml: S.variant([11: "          left: { tabel: people, key: id }"]),
              line: 11, ["unknown key 'tabel' in store 'left' of collection 'people' of flow 'people'", "did you mean 'table'?"]),

        // wrong types
        .init(label: "batch_size not a number", yaml: "pipeline: t\noptions:\n  batch_size: lots\n",
              line: 3, ["batch_size must be a whole number from 1 to 100000, got 'lots'", "batch_size: 1000"]),
        .init(label: "batch_size out of range", yaml: "pipeline: t\noptions:\n  batch_size: 0\n",
              line: 3, ["batch_size must be a whole number from 1 to 100000, got '0'"]),
        .init(label: "snapshot_batch_size out of range", yaml: "pipeline: t\noptions:\n  snapshot_batch_size: 200000\n",
              line: 3, ["snapshot_batch_size must be a whole number from 1 to 100000, got '200000'", "snapshot_batch_size: 8000"]),
        .init(label: "max_clock_skew not a duration", yaml: "pipeline: t\noptions:\n  max_clock_skew: soon\n",
              line: 3, ["max_clock_skew must be a duration (500ms, 5s, 2m, 1h, 7d or a number of seconds), got 'soon'", "max_clock_skew: 5s"]),
        .init(label: "tombstone_retention zero", yaml: "pipeline: t\noptions:\n  tombstone_retention: 0s\n",
              line: 3, ["tombstone_retention must be a duration above zero", "got '0s'", "tombstone_retention: 7d"]),
        .init(label: "history not a bool", yaml: "pipeline: t\noptions:\n  history: maybe\n",
              line: 3, ["history must be true or false, got 'maybe'", "`history: true`"]),
        .init(label: "options not a mapping", yaml: "pipeline: t\noptions: [history]\n",
              line: 2, ["options must be a mapping of keys", "got a list"]),
        .init(label: "flows not a list", yaml: S.variant([6: "  people:", 7: "    two_way: [left, right]"]),
              line: 6, ["flows must be a list, got a mapping", "`- name: ...`"]),
        .init(label: "key is a mapping", yaml: S.variant([11: "          left: { table: people, key: { a: b } }"]),
              line: 11, ["key of store 'left' of collection 'people' of flow 'people' must be a name or a list of names, got a mapping", "key: [id]"]),
        .init(label: "from is a list", yaml: S.variant([7: "    from: [left]\n    to: right"]),
              line: 7, ["from of flow 'people' must be a single value, got a list", "from: left"]),
        .init(label: "store setting is a list", yaml: S.variant([3: "  left: { type: sqlite, path: [a, b] }"]),
              line: 3, ["'path' of store 'left' must be a single value, got a list"]),
        .init(label: "bad pipeline name", yaml: S.variant([1: "pipeline: my pipeline"]),
              line: 1, ["the pipeline name 'my pipeline' is not a valid name", "letters, digits, '_' and '-'"]),
        .init(label: "bad store name", yaml: S.variant([4: "  right side: { type: sqlite, path: r.db }"]),
              line: 4, ["store name 'right side' is not a valid name"]),

        // missing required keys
        .init(label: "missing pipeline", yaml: "# header\nstores:\n  left: { type: sqlite }\n",
              line: 2, ["the pipeline has no name", "add `pipeline: NAME`"]),
        .init(label: "missing stores", yaml: "pipeline: t\nflows: []\n", line: 1, ["the pipeline defines no stores", "add `stores:`"]),
        .init(label: "empty stores", yaml: "pipeline: t\nstores: {}\n", line: 2, ["stores is empty"]),
        .init(label: "missing flows", yaml: "pipeline: t\nstores:\n  left: { type: sqlite }\n",
              line: 1, ["the pipeline defines no flows", "add `flows:`"]),
        .init(label: "empty flows", yaml: "pipeline: t\nstores:\n  left: { type: sqlite }\nflows: []\n",
              line: 4, ["flows is empty", "add at least one flow"]),
        .init(label: "store without type", yaml: S.variant([3: "  left: { path: l.db }"]),
              line: 3, ["store 'left' has no type", "add `type:` with one of: postgres, sqlite"]),
        .init(label: "flow without name", yaml: S.variant([6: "  - two_way: [left, right]", 7: ""]),
              line: 6, ["a flow has no name", "add `name: NAME`"]),
        .init(label: "flow without direction", yaml: S.variant([7: ""]),
              line: 6, ["flow 'people' says neither two_way nor from/to", "`from: a` with `to: b`"]),
        .init(label: "from without to", yaml: S.variant([7: "    from: left"]),
              line: 7, ["flow 'people' has from: but no to:", "add `to: STORE`"]),
        .init(label: "flow without collections", yaml: S.variant([8: "", 9: "", 10: "", 11: "", 12: ""]),
              line: 6, ["flow 'people' has no collections", "add `collections:`"]),
        .init(label: "collection without namespace", yaml: S.variant([9: "      - include: [id]"]),
              line: 9, ["a collection of flow 'people' has no namespace", "add `namespace: NAME`"]),
        .init(label: "collection without stores", yaml: S.variant([10: "", 11: "", 12: ""]),
              line: 9, ["collection 'people' of flow 'people' has no stores:", "left, right"]),
        .init(label: "store mapping without key", yaml: S.variant([12: "          right: { table: people }"]),
              line: 12, ["store 'right' of collection 'people' of flow 'people' has no key", "add `key: id`"]),
        .init(label: "store mapping without table", yaml: S.variant([12: "          right: { key: id }"]),
              line: 12, ["names no table or collection", "add `table: NAME`"]),

        // stores and types
        .init(label: "unknown store type", yaml: S.variant([3: "  left: { type: sqlit, path: l.db }"]),
              line: 3, ["store 'left' has unknown type 'sqlit'", "did you mean 'sqlite'? known types: postgres, sqlite"]),
        .init(label: "unknown store type without suggestion", yaml: S.variant([3: "  left: { type: oracle, path: l.db }"]),
              line: 3, ["store 'left' has unknown type 'oracle'", "— known types: postgres, sqlite"]),
        .init(label: "unknown store setting with suggestion", yaml: S.variant([3: "  left: { type: sqlite, paht: l.db }"]),
              line: 3, ["unknown key 'paht' in store 'left' (sqlite)", "did you mean 'path'?"]),
        .init(label: "unknown store setting without suggestion", yaml: S.variant([4: "  right:\n    type: sqlite\n    colour: blue"]),
              line: 6, ["unknown key 'colour' in store 'right' (sqlite)", "sqlite stores accept: journal, path, type"]),

        // flows and stores
        .init(label: "flow names an undefined store", yaml: S.variant([7: "    two_way: [left, rigth]"]),
              line: 7, ["flow 'people' names store 'rigth', which is not defined under stores:", "did you mean 'right'? defined stores: left, right"]),
        .init(label: "one-way from an undefined store", yaml: S.variant([7: "    from: nowhere\n    to: right"]),
              line: 7, ["flow 'people' names store 'nowhere'", "defined stores: left, right"]),
        .init(label: "duplicate flow names", yaml: S.variant(appending: [
            "  - name: people",                            // 13
            "    from: left",
            "    to: right",
            "    collections:",
            "      - namespace: other",
            "        stores:",
            "          left: { table: o, key: id }",
            "          right: { table: o, key: id }",
        ]), line: 13, ["flow name 'people' is used twice (first at line 6)", "give each flow its own name"]),
        .init(label: "create is not a boolean", yaml: S.variant([11: "          left: { table: people, key: id, create: maybe }"]),
              line: 11, ["create of store 'left' of collection 'people' of flow 'people' must be true or false, got 'maybe'", "create: true"]),
        .init(label: "one namespace in two flows", yaml: S.variant(appending: [
            "  - name: copies",                            // 13
            "    from: left",
            "    to: right",
            "    collections:",
            "      - namespace: people",
            "        stores:",
            "          left: { table: people, key: id }",
            "          right: { table: people_copy, key: id }",
        ]), line: 13, ["namespace 'people' is mapped by flow 'people' and by flow 'copies'", "map it in one flow with all its stores"]),
        .init(label: "duplicate namespaces", yaml: S.variant(appending: [
            "      - namespace: people",                     // 13
            "        stores:",
            "          left: { table: p2, key: id }",
            "          right: { table: p2, key: id }",
        ]), line: 13, ["namespace 'people' appears twice in flow 'people' (first at line 9)", "merge the two entries"]),
        .init(label: "store mapping missing for a flow's store", yaml: S.variant([12: ""]),
              line: 10, ["collection 'people' of flow 'people' has no mapping for store 'right'", "add `right: { table: NAME, key: [ID] }`"]),
        .init(label: "store mapping for a store not in the flow", yaml: S.variant([7: "    from: left\n    to: right"], appending: [
            "          extra: { table: people, key: id }",      // 14
        ]), line: 14, ["maps store 'extra', which is not part of the flow (left, right)", "remove it, or add 'extra'"]),
        .init(label: "table and collection both", yaml: S.variant([11: "          left: { table: people, collection: persons, key: id }"]),
              line: 11, ["store 'left' of collection 'people' of flow 'people' has both table and collection", "keep one"]),
        .init(label: "one-way to includes from", yaml: S.variant([7: "    from: left\n    to: [right, left]"]),
              line: 8, ["flow 'people' copies from 'left' to itself", "remove 'left' from to:, or use `two_way:`"]),
        .init(label: "two_way with one store", yaml: S.variant([7: "    two_way: [left]"]),
              line: 7, ["two_way of flow 'people' needs at least 2 stores, got 1", "two_way: [left, right]"]),
        .init(label: "two_way listing a store twice", yaml: S.variant([7: "    two_way: [left, left]"]),
              line: 7, ["two_way of flow 'people' lists 'left' twice", "list it once"]),
        .init(label: "two_way and from", yaml: S.variant([7: "    two_way: [left, right]\n    from: left"]),
              line: 8, ["flow 'people' has both two_way and from", "use either `two_way: [a, b]`"]),

        // environment
        .init(label: "undefined environment variable", yaml: S.variant([4: "  right: { type: postgres, password: \"${PG_PASSWORD}\" }"]),
              line: 4, ["environment variable PG_PASSWORD is not set — export it or write ${PG_PASSWORD:-default}"]),
        .init(label: "undefined variable in a block scalar line", yaml: S.variant([3: "  left:\n    type: sqlite\n    path: ${DATA}/l.db"]),
              line: 5, ["environment variable DATA is not set"], environment: ["DATA_DIR": "x"]),
        .init(label: "malformed variable reference", yaml: S.variant([3: "  left: { type: sqlite, path: \"${oops\" }"]),
              line: 3, ["malformed variable reference '${oops'", "write ${NAME} or ${NAME:-default}, and $$ for a literal $"]),
        .init(label: "unknown operator in variable reference", yaml: S.variant([3: "  left: { type: sqlite, path: \"${A:=b}\" }"]),
              line: 3, ["malformed variable reference '${A:=b}'"]),

        // renames and filters
        .init(label: "rename not one-to-one", yaml: S.variant([12: "          right:\n            table: people\n            key: id\n            rename: { a: name, b: name }"]),
              line: 15, ["rename of store 'right' of collection 'people' of flow 'people' maps both 'a' and 'b' to 'name'", "renames must be one-to-one"]),
        .init(label: "rename onto an attribute that keeps its name", yaml: S.variant([12: "          right: { table: people, key: id, rename: { pid: id } }"]),
              line: 12, ["maps 'pid' to 'id', which is already the name of store attribute 'id'", "renames must be one-to-one"]),
        .init(label: "include and exclude overlap", yaml: S.variant([9: "      - namespace: people\n        include: [id, name]\n        exclude: [secret, name]"]),
              line: 11, ["'name' is in both include and exclude of collection 'people' of flow 'people'", "remove it from one of them"]),
        .init(label: "exclude names a key", yaml: S.variant([9: "      - namespace: people\n        exclude:\n          - id"]),
              line: 11, ["exclude of collection 'people' of flow 'people' names the key attribute 'id'", "key attributes are always synced"]),
    ]

    @Test(arguments: cases)
    func reportsOneLine(_ errorCase: ConfigErrorCase) throws {
        try S.expectError(errorCase.yaml, line: errorCase.line, errorCase.fragments, environment: errorCase.environment)
    }

    @Test func missingFile() throws {
        let folder = try S.makeFolder()
        defer { S.remove(folder) }
        let file = folder + "/nope.yaml"
        do {
            _ = try PipelineLoader.load(file: file, environment: [:], storeTypes: S.storeTypes)
            Issue.record("expected an error")
        } catch let error as PipelineError {
            S.checkOneLine(error, file: file, line: nil, ["pipeline file not found", "check the path"])
        }
    }

    @Test func folderInsteadOfFile() throws {
        let folder = try S.makeFolder()
        defer { S.remove(folder) }
        do {
            _ = try PipelineLoader.load(file: folder, environment: [:], storeTypes: S.storeTypes)
            Issue.record("expected an error")
        } catch let error as PipelineError {
            S.checkOneLine(error, file: folder, line: nil, ["this is a folder, not a pipeline file", "loadAll"])
        }
    }

    @Test func unreadableFile() throws {
        let folder = try S.makeFolder()
        defer { S.remove(folder) }
        let file = try S.write(S.variant(), to: folder)
        try FileManager.default.setAttributes([.posixPermissions: 0], ofItemAtPath: file)
        guard !FileManager.default.isReadableFile(atPath: file) else { return } // root reads anything
        do {
            _ = try PipelineLoader.load(file: file, environment: [:], storeTypes: S.storeTypes)
            Issue.record("expected an error")
        } catch let error as PipelineError {
            S.checkOneLine(error, file: file, line: nil, ["cannot read the pipeline file", "chmod"])
        }
    }

    @Test func notUTF8() throws {
        let folder = try S.makeFolder()
        defer { S.remove(folder) }
        let file = folder + "/latin1.yaml"
        try Data([0x70, 0x3A, 0x20, 0xE9, 0xFF, 0x0A]).write(to: URL(fileURLWithPath: file))
        do {
            _ = try PipelineLoader.load(file: file, environment: [:], storeTypes: S.storeTypes)
            Issue.record("expected an error")
        } catch let error as PipelineError {
            S.checkOneLine(error, file: file, line: nil, ["not UTF-8", "save it as UTF-8"])
        }
    }

    @Test func messagesStayOnOneLineWithMultiLineValues() throws {
        try S.expectError("pipeline: t\noptions:\n  batch_size: \"many\\nmore\"\n", line: 3,
                          ["got 'many more'"])
    }

    @Test func fileNamesAreKeptAsGivenInMessages() throws {
        do {
            _ = try PipelineLoader.parse(text: S.variant([2: "storse:"]), file: "pipelines/rel.yaml", environment: [:],
                                         storeTypes: S.storeTypes)
            Issue.record("expected an error")
        } catch let error as PipelineError {
            S.checkOneLine(error, file: "pipelines/rel.yaml", line: 2, ["unknown key 'storse'"])
        }
    }
}
