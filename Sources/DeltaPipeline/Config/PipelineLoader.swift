import DeltaConnector
import DeltaCore
import Foundation
import Yams

/// Loads and validates pipeline files (`pipelines/*.yaml`) into ``PipelineConfig`` values.
///
/// Every problem is thrown as a ``PipelineError`` whose message is one line naming the file, the
/// line and the fix; loading has no side effects (no folders or ledgers are created).
public enum PipelineLoader {
    /// File name extensions ``loadAll(path:environment:storeTypes:)`` picks up in a folder.
    public static let fileExtensions: Set<String> = ["yaml", "yml"]

    /// The `storeTypes` argument for a set of connector factories: type → accepted setting keys.
    public static func storeTypes(of factories: [any ConnectorFactory]) -> [String: Set<String>] {
        var types = [String: Set<String>]()
        for factory in factories { types[factory.type] = factory.settingKeys }
        return types
    }

    /// Loads one pipeline file.
    ///
    /// - Parameters:
    ///   - file: path of the file; relative paths start at the current directory. Messages name it as given.
    ///   - environment: variables for `${VAR}` interpolation.
    ///   - storeTypes: the known store types (`type:` values) and the setting keys each accepts.
    public static func load(file: String, environment: [String: String] = ProcessInfo.processInfo.environment,
                            storeTypes: [String: Set<String>]) throws -> PipelineConfig {
        let text = try readText(file)
        return try parse(text: text, file: file, environment: environment, storeTypes: storeTypes)
    }

    /// Loads a pipeline file, or every `*.yaml` / `*.yml` file directly in a folder (sorted by name,
    /// hidden files skipped). Pipeline names must be unique across the files.
    public static func loadAll(path: String, environment: [String: String] = ProcessInfo.processInfo.environment,
                               storeTypes: [String: Set<String>]) throws -> [PipelineConfig] {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
            throw PipelineError(file: path, line: nil, problem: "no such pipeline file or folder",
                                fix: "check the path (relative paths start at \(FileManager.default.currentDirectoryPath))")
        }
        guard isFolder.boolValue else {
            return [try load(file: path, environment: environment, storeTypes: storeTypes)]
        }
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: path)
        } catch {
            throw PipelineError(file: path, line: nil, problem: "cannot list the folder",
                                fix: "check that it exists and is readable")
        }
        let folder = path.count > 1 && path.hasSuffix("/") ? String(path.dropLast()) : path
        let files = names.filter { name in
            guard !name.hasPrefix("."), let dot = name.lastIndex(of: ".") else { return false }
            return fileExtensions.contains(String(name[name.index(after: dot)...]))
        }.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        let candidates = files.map { folder == "/" ? "/" + $0 : folder + "/" + $0 }.filter { file in
            var isDir: ObjCBool = false
            return FileManager.default.fileExists(atPath: file, isDirectory: &isDir) && !isDir.boolValue
        }
        guard !candidates.isEmpty else {
            throw PipelineError(file: path, line: nil, problem: "no pipeline files (*.yaml, *.yml) in this folder",
                                fix: "add one (see pipelines/README-config.md) or pass the path of a pipeline file")
        }
        var configs = [PipelineConfig]()
        for file in candidates {
            let config = try load(file: file, environment: environment, storeTypes: storeTypes)
            if let other = configs.first(where: { $0.name == config.name }) {
                throw PipelineError(file: file, line: lineNumber(of: config.location),
                                    problem: "pipeline name '\(config.name)' is already used by \(other.location)",
                                    fix: "give each pipeline file its own `pipeline:` name")
            }
            configs.append(config)
        }
        return configs
    }

    /// Parses the text of a pipeline file. `file` names it in messages and anchors relative paths
    /// (its folder); it does not need to exist.
    public static func parse(text: String, file: String, environment: [String: String] = ProcessInfo.processInfo.environment,
                             storeTypes: [String: Set<String>]) throws -> PipelineConfig {
        let reader = ConfigReader(file: file, text: text, environment: environment, storeTypes: storeTypes)
        return try reader.pipeline()
    }

    // MARK: - Files

    static func readText(_ file: String) throws -> String {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: file, isDirectory: &isFolder) else {
            throw PipelineError(file: file, line: nil, problem: "pipeline file not found",
                                fix: "check the path (relative paths start at \(FileManager.default.currentDirectoryPath))")
        }
        guard !isFolder.boolValue else {
            throw PipelineError(file: file, line: nil, problem: "this is a folder, not a pipeline file",
                                fix: "pass a .yaml file, or load every file of the folder (loadAll)")
        }
        guard FileManager.default.isReadableFile(atPath: file), let data = FileManager.default.contents(atPath: file) else {
            throw PipelineError(file: file, line: nil, problem: "cannot read the pipeline file (permission denied)",
                                fix: "make it readable by this user, e.g. `chmod a+r \(file)`")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw PipelineError(file: file, line: nil, problem: "the pipeline file is not UTF-8 text",
                                fix: "save it as UTF-8")
        }
        return text
    }

    static func lineNumber(of location: String) -> Int? {
        guard let colon = location.lastIndex(of: ":") else { return nil }
        return Int(location[location.index(after: colon)...])
    }

    static func absolutePath(_ path: String, base: String) -> String {
        let joined = path.hasPrefix("/") ? path : (base.hasSuffix("/") ? base + path : base + "/" + path)
        return URL(fileURLWithPath: joined).standardizedFileURL.path
    }
}

// MARK: - Reader

/// A mapping entry with where it was written.
private struct ConfigEntry {
    let key: String
    let keyLine: Int?
    let value: Yams.Node
    var valueLine: Int? { value.mark?.line ?? keyLine }
}

/// The entries of one YAML mapping, after the unknown-key check.
private struct ConfigFields {
    /// What the mapping is, for messages ("options", "store 'left'").
    let context: String
    /// Line of the key that holds the mapping (or of the mapping itself).
    let line: Int?
    let entries: [ConfigEntry]

    subscript(key: String) -> ConfigEntry? {
        guard let entry = entries.first(where: { $0.key == key }), !ConfigReader.isNull(entry.value) else { return nil }
        return entry
    }
}

private let namePattern = "letters, digits, '_' and '-'"

/// Walks the composed YAML tree, interpolating and validating as it goes.
private struct ConfigReader {
    let file: String
    let text: String
    let environment: [String: String]
    let storeTypes: [String: Set<String>]
    let absoluteFile: String
    let folder: String

    init(file: String, text: String, environment: [String: String], storeTypes: [String: Set<String>]) {
        self.file = file
        self.text = text
        self.environment = environment
        self.storeTypes = storeTypes
        self.absoluteFile = PipelineLoader.absolutePath(file, base: FileManager.default.currentDirectoryPath)
        self.folder = URL(fileURLWithPath: absoluteFile).deletingLastPathComponent().standardizedFileURL.path
    }

    func error(_ line: Int?, _ problem: String, _ fix: String) -> PipelineError {
        PipelineError(file: file, line: line, problem: problem, fix: fix)
    }

    func location(_ line: Int?) -> String {
        line.map { "\(file):\($0)" } ?? file
    }

    // MARK: Top level

    func pipeline() throws -> PipelineConfig {
        let root: Yams.Node
        do {
            guard let node = try Yams.compose(yaml: text) else {
                throw error(1, "the pipeline file is empty", "start it with `pipeline: NAME`, then `stores:` and `flows:` (see pipelines/README-config.md)")
            }
            root = node
        } catch let e as YamlError {
            throw yamlError(e)
        }
        guard case .mapping = root else {
            throw error(root.mark?.line, "the top level must be a mapping of keys (pipeline:, stores:, flows:, ...), got \(kind(root))",
                        "start the file with `pipeline: NAME` and put `stores:` and `flows:` below it, unindented")
        }
        let top = try fields(root, context: "the pipeline file", line: root.mark?.line,
                             known: ["pipeline", "state_dir", "ledger", "options", "stores", "flows"])

        guard let nameEntry = top["pipeline"] else {
            throw error(top.line, "the pipeline has no name", "add `pipeline: NAME` at the top (\(namePattern))")
        }
        let name = try identifier(nameEntry, what: "the pipeline name", example: "pipeline: quickstart")

        var stateDirectory = PipelineLoader.absolutePath(".deltabridge", base: folder)
        if let entry = top["state_dir"] {
            let raw = try string(entry, what: "state_dir", example: "state_dir: .deltabridge")
            guard !raw.isEmpty else {
                throw error(entry.valueLine, "state_dir is empty", "write a folder, e.g. `state_dir: .deltabridge`, or remove the line for the default")
            }
            stateDirectory = PipelineLoader.absolutePath(raw, base: folder)
        }

        var ledgerPath = PipelineLoader.absolutePath("\(name).ledger.sqlite", base: stateDirectory)
        if let entry = top["ledger"] {
            let ledger = try fields(entry.value, context: "ledger", line: entry.keyLine, known: ["path"])
            if let pathEntry = ledger["path"] {
                let raw = try string(pathEntry, what: "ledger path", example: "path: \(name).ledger.sqlite")
                guard !raw.isEmpty else {
                    throw error(pathEntry.valueLine, "ledger path is empty", "write a file name, e.g. `path: \(name).ledger.sqlite`, or remove the line for the default")
                }
                ledgerPath = PipelineLoader.absolutePath(raw, base: stateDirectory)
            }
        }

        var options = PipelineOptions()
        if let entry = top["options"] {
            options = try readOptions(entry)
        }

        guard let storesEntry = top["stores"] else {
            throw error(top.line, "the pipeline defines no stores", "add `stores:` with one entry per database, e.g. `left: { type: sqlite, path: data/left.db }`")
        }
        // Sources take the batch size for their streams from their settings.
        let stores = try readStores(storesEntry).map { store in
            var store = store
            store.batchSize = options.batchSize
            return store
        }

        guard let flowsEntry = top["flows"] else {
            throw error(top.line, "the pipeline defines no flows", "add `flows:` with at least one flow (name, two_way or from/to, collections)")
        }
        let flows = try readFlows(flowsEntry, stores: stores)

        return PipelineConfig(name: name, filePath: absoluteFile, location: location(nameEntry.keyLine),
                              stateDirectory: stateDirectory, ledgerPath: ledgerPath, options: options,
                              stores: stores, flows: flows)
    }

    // MARK: Options

    func readOptions(_ entry: ConfigEntry) throws -> PipelineOptions {
        let o = try fields(entry.value, context: "options", line: entry.keyLine,
                           known: ["max_clock_skew", "tombstone_retention", "history", "batch_size", "snapshot_batch_size"])
        var options = PipelineOptions()
        if let e = o["max_clock_skew"] {
            options.maxClockSkew = try duration(e, what: "max_clock_skew", example: "5s", allowZero: true)
        }
        if let e = o["tombstone_retention"] {
            options.tombstoneRetention = try duration(e, what: "tombstone_retention", example: "7d", allowZero: false)
        }
        if let e = o["history"] {
            let raw = try string(e, what: "history", example: "history: true")
            switch raw.lowercased() {
            case "true", "yes", "on": options.history = true
            case "false", "no", "off": options.history = false
            default:
                throw error(e.valueLine, "history must be true or false, got \(quoted(raw))", "write `history: true` or `history: false`")
            }
        }
        if let e = o["batch_size"] {
            options.batchSize = try batchSize(e, what: "batch_size", example: "1000")
        }
        if let e = o["snapshot_batch_size"] {
            options.snapshotBatchSize = try batchSize(e, what: "snapshot_batch_size", example: "8000")
        }
        return options
    }

    /// A whole number in ``PipelineOptions/batchSizeRange``.
    func batchSize(_ e: ConfigEntry, what: String, example: String) throws -> Int {
        let raw = try string(e, what: what, example: "\(what): \(example)")
        let range = PipelineOptions.batchSizeRange
        guard raw.allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int(raw), range.contains(n) else {
            throw error(e.valueLine, "\(what) must be a whole number from \(range.lowerBound) to \(range.upperBound), got \(quoted(raw))",
                        "write e.g. `\(what): \(example)`")
        }
        return n
    }

    func duration(_ e: ConfigEntry, what: String, example: String, allowZero: Bool) throws -> Int64 {
        let raw = try string(e, what: what, example: "\(what): \(example)")
        guard let micros = DurationText.parse(raw), allowZero || micros > 0 else {
            let zero = allowZero ? "" : " above zero"
            throw error(e.valueLine, "\(what) must be a duration\(zero) (500ms, 5s, 2m, 1h, 7d or a number of seconds), got \(quoted(raw))",
                        "write e.g. `\(what): \(example)`")
        }
        return micros
    }

    // MARK: Stores

    func readStores(_ entry: ConfigEntry) throws -> [StoreSettings] {
        let storesFields = try fields(entry.value, context: "stores", line: entry.keyLine, known: nil)
        guard !storesFields.entries.isEmpty else {
            throw error(entry.keyLine, "stores is empty", "add one entry per database, e.g. `left: { type: sqlite, path: data/left.db }`")
        }
        let known = storeTypes.keys.sorted()
        var stores = [StoreSettings]()
        for store in storesFields.entries {
            try checkIdentifier(store.key, line: store.keyLine, what: "store name")
            let context = "store '\(store.key)'"
            guard case .mapping = store.value else {
                throw error(store.valueLine, "\(context) must be a mapping of settings, got \(kind(store.value))",
                            "write e.g. `\(store.key): { type: \(known.first ?? "sqlite"), ... }` with the settings indented below the name")
            }
            let settings = try fields(store.value, context: context, line: store.keyLine, known: nil)
            guard let typeEntry = settings["type"] else {
                throw error(store.keyLine, "\(context) has no type", "add `type:` with one of: \(list(known))")
            }
            let type = try string(typeEntry, what: "the type of \(context)", example: "type: \(known.first ?? "sqlite")")
            guard let keys = storeTypes[type] else {
                let hint = ConfigSuggestion.closest(to: type, in: known).map { "did you mean '\($0)'? " } ?? ""
                throw error(typeEntry.valueLine, "\(context) has unknown type \(quoted(type))",
                            "\(hint)known types: \(list(known))")
            }
            var values = [String: String]()
            for setting in settings.entries where setting.key != "type" {
                guard keys.contains(setting.key) else {
                    let accepted = keys.sorted()
                    if let guess = ConfigSuggestion.closest(to: setting.key, in: accepted + ["type"]) {
                        throw error(setting.keyLine, "unknown key '\(setting.key)' in \(context) (\(type))", "did you mean '\(guess)'?")
                    }
                    throw error(setting.keyLine, "unknown key '\(setting.key)' in \(context) (\(type))",
                                "remove it; \(type) stores accept: \(list(accepted + ["type"]))")
                }
                values[setting.key] = try string(setting, what: "'\(setting.key)' of \(context)", example: "\(setting.key): VALUE")
            }
            stores.append(StoreSettings(name: StoreID(store.key), type: type, values: values,
                                        baseDirectory: folder, location: location(store.keyLine)))
        }
        return stores
    }

    // MARK: Flows

    func readFlows(_ entry: ConfigEntry, stores: [StoreSettings]) throws -> [FlowConfig] {
        guard case let .sequence(items) = entry.value else {
            throw error(entry.valueLine, "flows must be a list, got \(kind(entry.value))",
                        "write each flow as a list item starting with `- name: ...`")
        }
        guard !items.isEmpty else {
            throw error(entry.keyLine, "flows is empty", "add at least one flow: `- name: ...` with two_way or from/to and collections")
        }
        let storeNames = stores.map(\.name.name)
        var flows = [FlowConfig]()
        var seen = [String: Int?]()
        for item in items {
            let flow = try readFlow(item, storeNames: storeNames)
            if let first = seen[flow.config.name] {
                throw error(flow.nameLine, "flow name '\(flow.config.name)' is used twice (first at line \(first.map(String.init) ?? "?"))",
                            "give each flow its own name")
            }
            seen[flow.config.name] = flow.nameLine
            // A namespace is one set of ledger documents: a change that one flow recorded would
            // look like no change to a second flow reading it, whose stores would never get it.
            for mapping in flow.config.collections {
                if let other = flows.first(where: { f in f.collections.contains { $0.namespace == mapping.namespace } }) {
                    throw error(flow.nameLine, "namespace '\(mapping.namespace.name)' is mapped by flow '\(other.name)' and by flow '\(flow.config.name)'; they would share its ledger documents, so a change recorded through one flow would never reach the other's stores",
                                "map it in one flow with all its stores (`to: [a, b]` or one `two_way` list), or give each flow its own namespace")
                }
            }
            flows.append(flow.config)
        }
        return flows
    }

    func readFlow(_ node: Yams.Node, storeNames: [String]) throws -> (config: FlowConfig, nameLine: Int?) {
        guard case .mapping = node else {
            throw error(node.mark?.line, "a flow must be a mapping, got \(kind(node))",
                        "write `- name: NAME` followed by two_way or from/to and collections, indented under it")
        }
        let f = try fields(node, context: "a flow", line: node.mark?.line, known: nil)
        let flowKeys = ["name", "two_way", "from", "to", "collections"]
        guard let nameEntry = f["name"] else {
            try checkKnown(f, flowKeys, context: "a flow")
            throw error(f.line, "a flow has no name", "add `name: NAME` (\(namePattern)) to the flow")
        }
        let name = try identifier(nameEntry, what: "the flow name", example: "name: people")
        let context = "flow '\(name)'"
        try checkKnown(f, flowKeys, context: context)

        let direction: FlowDirection
        if let twoWay = f["two_way"] {
            if let other = f["from"] ?? f["to"] {
                throw error(other.keyLine, "\(context) has both two_way and \(other.key)",
                            "use either `two_way: [a, b]` or `from: a` with `to: b`")
            }
            let names = try nameList(twoWay, what: "two_way of \(context)", example: "two_way: [left, right]")
            guard names.count >= 2 else {
                throw error(twoWay.valueLine, "two_way of \(context) needs at least 2 stores, got \(names.count)",
                            "list two or more stores, e.g. `two_way: [left, right]`, or use `from:` and `to:` for a one-way flow")
            }
            for n in names { try checkStore(n, in: context, defined: storeNames) }
            direction = .twoWay(names.map { StoreID($0.value) })
        } else {
            guard let fromEntry = f["from"] else {
                if let to = f["to"] {
                    throw error(to.keyLine, "\(context) has to: but no from:", "add `from: STORE` naming the store whose changes are copied")
                }
                throw error(f.line, "\(context) says neither two_way nor from/to",
                            "add `two_way: [a, b]` to sync both ways, or `from: a` with `to: b` for one way")
            }
            guard let toEntry = f["to"] else {
                throw error(fromEntry.keyLine, "\(context) has from: but no to:", "add `to: STORE` or `to: [STORE, ...]` naming the stores to write")
            }
            let fromName = try string(fromEntry, what: "from of \(context)", example: "from: left")
            let from = (value: fromName, line: fromEntry.valueLine)
            try checkStore(from, in: context, defined: storeNames)
            let to = try nameList(toEntry, what: "to of \(context)", example: "to: [right]")
            guard !to.isEmpty else {
                throw error(toEntry.valueLine, "to of \(context) is empty", "name at least one store to write, e.g. `to: right`")
            }
            for n in to {
                if n.value == fromName {
                    throw error(n.line, "\(context) copies from '\(fromName)' to itself",
                                "remove '\(fromName)' from to:, or use `two_way:` to sync in both directions")
                }
                try checkStore(n, in: context, defined: storeNames)
            }
            direction = .oneWay(from: StoreID(fromName), to: to.map { StoreID($0.value) })
        }

        guard let collectionsEntry = f["collections"] else {
            throw error(nameEntry.keyLine, "\(context) has no collections", "add `collections:` with at least one `- namespace: NAME` entry")
        }
        guard case let .sequence(items) = collectionsEntry.value else {
            throw error(collectionsEntry.valueLine, "collections of \(context) must be a list, got \(kind(collectionsEntry.value))",
                        "write each collection as a list item starting with `- namespace: NAME`")
        }
        guard !items.isEmpty else {
            throw error(collectionsEntry.keyLine, "collections of \(context) is empty", "add at least one `- namespace: NAME` entry")
        }
        var collections = [CollectionMapping]()
        var seen = [String: Int?]()
        for item in items {
            let (mapping, line) = try readCollection(item, flow: context, stores: direction.stores.map(\.name))
            if let first = seen[mapping.namespace.name] {
                throw error(line, "namespace '\(mapping.namespace.name)' appears twice in \(context) (first at line \(first.map(String.init) ?? "?"))",
                            "merge the two entries or give one another namespace")
            }
            seen[mapping.namespace.name] = line
            collections.append(mapping)
        }
        return (FlowConfig(name: name, direction: direction, collections: collections, location: location(nameEntry.keyLine)), nameEntry.valueLine)
    }

    func checkStore(_ name: (value: String, line: Int?), in context: String, defined: [String]) throws {
        guard defined.contains(name.value) else {
            let hint = ConfigSuggestion.closest(to: name.value, in: defined).map { "did you mean '\($0)'? " } ?? ""
            throw error(name.line, "\(context) names store '\(name.value)', which is not defined under stores:",
                        "\(hint)defined stores: \(list(defined))")
        }
    }

    // MARK: Collections

    func readCollection(_ node: Yams.Node, flow: String, stores flowStores: [String]) throws -> (CollectionMapping, Int?) {
        guard case .mapping = node else {
            throw error(node.mark?.line, "a collection of \(flow) must be a mapping, got \(kind(node))",
                        "write `- namespace: NAME` followed by `stores:`")
        }
        let c = try fields(node, context: "a collection of \(flow)", line: node.mark?.line, known: nil)
        let collectionKeys = ["namespace", "include", "exclude", "stores"]
        guard let nsEntry = c["namespace"] else {
            try checkKnown(c, collectionKeys, context: "a collection of \(flow)")
            throw error(c.line, "a collection of \(flow) has no namespace", "add `namespace: NAME`, the logical name shared by its stores")
        }
        let namespace = try string(nsEntry, what: "namespace", example: "namespace: people")
        guard !namespace.isEmpty, namespace.unicodeScalars.allSatisfy(ConfigReader.isNamespaceScalar) else {
            throw error(nsEntry.valueLine, "namespace \(quoted(namespace)) is not a valid name",
                        "use letters, digits, '_', '-' and '.', e.g. `namespace: people`")
        }
        let context = "collection '\(namespace)' of \(flow)"
        try checkKnown(c, collectionKeys, context: context)

        var include: [(value: String, line: Int?)]?
        if let e = c["include"] {
            include = try nameList(e, what: "include of \(context)", example: "include: [id, name]")
        }
        var exclude = [(value: String, line: Int?)]()
        if let e = c["exclude"] {
            exclude = try nameList(e, what: "exclude of \(context)", example: "exclude: [secret]")
        }
        if let include {
            for x in exclude where include.contains(where: { $0.value == x.value }) {
                throw error(x.line, "'\(x.value)' is in both include and exclude of \(context)",
                            "remove it from one of them (include lists what to sync, exclude what to skip)")
            }
        }

        guard let storesEntry = c["stores"] else {
            throw error(nsEntry.keyLine, "\(context) has no stores:", "add `stores:` with one entry per store of the flow (\(list(flowStores)))")
        }
        let s = try fields(storesEntry.value, context: "stores of \(context)", line: storesEntry.keyLine, known: nil)
        var mappings = [StoreID: StoreMapping]()
        for entry in s.entries {
            guard flowStores.contains(entry.key) else {
                throw error(entry.keyLine, "\(context) maps store '\(entry.key)', which is not part of the flow (\(list(flowStores)))",
                            "remove it, or add '\(entry.key)' to the flow's two_way/from/to")
            }
            mappings[StoreID(entry.key)] = try readStoreMapping(entry, collection: context)
        }
        for store in flowStores where mappings[StoreID(store)] == nil {
            throw error(storesEntry.keyLine, "\(context) has no mapping for store '\(store)'",
                        "add `\(store): { table: NAME, key: [ID] }` under stores:")
        }

        let result = CollectionMapping(namespace: Namespace(namespace), include: include.map { Set($0.map(\.value)) },
                                       exclude: Set(exclude.map(\.value)), stores: mappings,
                                       location: location(nsEntry.keyLine))
        for x in exclude where result.logicalKeyAttributes.contains(x.value) {
            throw error(x.line, "exclude of \(context) names the key attribute '\(x.value)'",
                        "remove it: key attributes are always synced")
        }
        return (result, nsEntry.valueLine)
    }

    func readStoreMapping(_ entry: ConfigEntry, collection: String) throws -> StoreMapping {
        let context = "store '\(entry.key)' of \(collection)"
        guard case .mapping = entry.value else {
            throw error(entry.valueLine, "\(context) must be a mapping, got \(kind(entry.value))",
                        "write e.g. `\(entry.key): { table: NAME, key: [ID] }`")
        }
        let m = try fields(entry.value, context: context, line: entry.keyLine,
                           known: ["table", "collection", "key", "json", "rename", "time", "create"])
        let nameEntry: ConfigEntry
        switch (m["table"], m["collection"]) {
        case let (table?, collection?):
            let later = (collection.keyLine ?? 0) >= (table.keyLine ?? 0) ? collection : table
            throw error(later.keyLine, "\(context) has both table and collection",
                        "keep one: they are synonyms for the store's table or collection name")
        case let (table?, nil): nameEntry = table
        case let (nil, collection?): nameEntry = collection
        case (nil, nil):
            throw error(entry.keyLine, "\(context) names no table or collection",
                        "add `table: NAME` (or `collection: NAME`)")
        }
        let name = try string(nameEntry, what: "\(nameEntry.key) of \(context)", example: "\(nameEntry.key): people")
        guard !name.isEmpty else {
            throw error(nameEntry.valueLine, "\(nameEntry.key) of \(context) is empty", "write the store's \(nameEntry.key) name, e.g. `\(nameEntry.key): people`")
        }
        guard let keyEntry = m["key"] else {
            throw error(entry.keyLine, "\(context) has no key", "add `key: id` or `key: [a, b]` naming the attributes that identify a document")
        }
        let key = try nameList(keyEntry, what: "key of \(context)", example: "key: [id]")
        guard !key.isEmpty else {
            throw error(keyEntry.valueLine, "key of \(context) is empty", "name at least one attribute, e.g. `key: id`")
        }
        var json = [(value: String, line: Int?)]()
        if let e = m["json"] {
            json = try nameList(e, what: "json of \(context)", example: "json: [prefs]")
        }
        var time: (value: String, line: Int?)?
        if let e = m["time"] {
            let raw = try string(e, what: "time of \(context)", example: "time: updated_at")
            guard !raw.isEmpty else {
                throw error(e.valueLine, "time of \(context) is empty", "name the attribute holding the change time, e.g. `time: updated_at`, or remove the line")
            }
            time = (raw, e.valueLine)
        }
        var renames = [String: String]()
        if let e = m["rename"] {
            let r = try fields(e.value, context: "rename of \(context)", line: e.keyLine, known: nil)
            var bySource = [String: (store: String, line: Int?)]()
            for pair in r.entries {
                let logical = try string(pair, what: "the new name of '\(pair.key)' in rename of \(context)", example: "\(pair.key): NAME")
                guard !pair.key.isEmpty, !logical.isEmpty else {
                    throw error(pair.keyLine, "rename of \(context) has an empty name", "write `store_attribute: logical_name`")
                }
                if let other = bySource[logical] {
                    throw error(pair.keyLine, "rename of \(context) maps both '\(other.store)' and '\(pair.key)' to '\(logical)'",
                                "renames must be one-to-one: give each store attribute its own logical name")
                }
                bySource[logical] = (pair.key, pair.keyLine)
                renames[pair.key] = logical
            }
            // An attribute the mapping names (key, json, time) that keeps its name must not collide with a rename target.
            var named = key + json
            if let time { named.append(time) }
            for attribute in named where renames[attribute.value] == nil {
                if let other = bySource[attribute.value] {
                    throw error(other.line, "rename of \(context) maps '\(other.store)' to '\(attribute.value)', which is already the name of store attribute '\(attribute.value)'",
                                "renames must be one-to-one: rename '\(attribute.value)' too, or pick another logical name")
                }
            }
        }
        var create = false
        if let e = m["create"] {
            let raw = try string(e, what: "create of \(context)", example: "create: true")
            switch raw.lowercased() {
            case "true", "yes", "on": create = true
            case "false", "no", "off": create = false
            default:
                throw error(e.valueLine, "create of \(context) must be true or false, got '\(raw)'",
                            "write `create: true` to create the table from the source's columns when it is missing")
            }
        }
        let spec = CollectionSpec(name: name, keyAttributes: key.map(\.value), jsonAttributes: Set(json.map(\.value)), createIfMissing: create)
        return StoreMapping(spec: spec, renames: renames, timeAttribute: time?.value, location: location(entry.keyLine))
    }

    // MARK: Node helpers

    /// The entries of a mapping node; with `known`, unknown keys are errors with a suggestion.
    func fields(_ node: Yams.Node, context: String, line: Int?, known: [String]?) throws -> ConfigFields {
        guard case let .mapping(mapping) = node else {
            if ConfigReader.isNull(node) { return ConfigFields(context: context, line: line, entries: []) }
            let keys = known.map { " (" + $0.joined(separator: ", ") + ")" } ?? ""
            throw error(node.mark?.line ?? line, "\(context) must be a mapping of keys\(keys), got \(kind(node))",
                        "write `key: value` lines indented under it")
        }
        var entries = [ConfigEntry]()
        for (keyNode, value) in mapping {
            guard case let .scalar(scalar) = keyNode else {
                throw error(keyNode.mark?.line, "a key in \(context) is \(kind(keyNode)), not a name",
                            "write keys as plain names followed by a colon")
            }
            entries.append(ConfigEntry(key: scalar.string, keyLine: keyNode.mark?.line, value: value))
        }
        let result = ConfigFields(context: context, line: line ?? mapping.mark?.line, entries: entries)
        if let known { try checkKnown(result, known, context: context) }
        return result
    }

    /// Unknown keys are errors, with the closest known key as a suggestion or the list of known keys.
    func checkKnown(_ fields: ConfigFields, _ known: [String], context: String) throws {
        for entry in fields.entries where !known.contains(entry.key) {
            if let guess = ConfigSuggestion.closest(to: entry.key, in: known) {
                throw error(entry.keyLine, "unknown key '\(entry.key)' in \(context)", "did you mean '\(guess)'?")
            }
            throw error(entry.keyLine, "unknown key '\(entry.key)' in \(context)", "remove it; known keys here: \(list(known))")
        }
    }

    /// A scalar value after interpolation ("" for null).
    func string(_ entry: ConfigEntry, what: String, example: String) throws -> String {
        try scalar(entry.value, line: entry.valueLine, what: what, example: example)
    }

    func scalar(_ node: Yams.Node, line: Int?, what: String, example: String) throws -> String {
        guard case let .scalar(scalar) = node else {
            throw error(line, "\(what) must be a single value, got \(kind(node))", "write e.g. `\(example)`")
        }
        if ConfigReader.isNull(node) { return "" }
        do {
            return try ConfigInterpolation.apply(scalar.string, environment: environment)
        } catch .unset(let name) {
            throw error(line, "environment variable \(name) is not set", "export it or write ${\(name):-default}")
        } catch .malformed(let text) {
            throw error(line, "malformed variable reference \(quoted(text)) in \(what)",
                        "write ${NAME} or ${NAME:-default}, and $$ for a literal $")
        }
    }

    /// A name or a list of names (each non-empty, no duplicates), with their lines.
    func nameList(_ entry: ConfigEntry, what: String, example: String) throws -> [(value: String, line: Int?)] {
        let nodes: [Yams.Node]
        switch entry.value {
        case .scalar: nodes = [entry.value]
        case let .sequence(sequence): nodes = Array(sequence)
        default:
            throw error(entry.valueLine, "\(what) must be a name or a list of names, got \(kind(entry.value))", "write e.g. `\(example)`")
        }
        var names = [(value: String, line: Int?)]()
        for node in nodes {
            let line = node.mark?.line ?? entry.valueLine
            let name = try scalar(node, line: line, what: "an item of \(what)", example: example)
            guard !name.isEmpty else {
                throw error(line, "\(what) contains an empty name", "write e.g. `\(example)`")
            }
            if names.contains(where: { $0.value == name }) {
                throw error(line, "\(what) lists '\(name)' twice", "list it once")
            }
            names.append((name, line))
        }
        return names
    }

    func identifier(_ entry: ConfigEntry, what: String, example: String) throws -> String {
        let value = try string(entry, what: what, example: example)
        try checkIdentifier(value, line: entry.valueLine, what: what)
        return value
    }

    func checkIdentifier(_ value: String, line: Int?, what: String) throws {
        guard !value.isEmpty, value.unicodeScalars.allSatisfy(ConfigReader.isNameScalar) else {
            throw error(line, "\(what) \(quoted(value)) is not a valid name", "use only \(namePattern)")
        }
    }

    static func isNameScalar(_ s: Unicode.Scalar) -> Bool {
        switch s {
        case "A"..."Z", "a"..."z", "0"..."9", "_", "-": return true
        default: return false
        }
    }

    static func isNamespaceScalar(_ s: Unicode.Scalar) -> Bool {
        isNameScalar(s) || s == "."
    }

    static func isNull(_ node: Yams.Node) -> Bool {
        guard case let .scalar(scalar) = node, scalar.style == .plain else { return false }
        switch scalar.string {
        case "", "~", "null", "Null", "NULL": return true
        default: return false
        }
    }

    func kind(_ node: Yams.Node) -> String {
        switch node {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        case let .scalar(scalar): return ConfigReader.isNull(node) ? "nothing" : "the value \(quoted(scalar.string))"
        }
    }

    func quoted(_ text: String) -> String {
        let clipped = text.count > 60 ? String(text.prefix(57)) + "..." : text
        return "'" + PipelineError.oneLine(clipped) + "'"
    }

    func list(_ names: [String]) -> String {
        names.isEmpty ? "(none)" : names.joined(separator: ", ")
    }

    // MARK: YAML errors

    func yamlError(_ e: YamlError) -> PipelineError {
        switch e {
        case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _), let .composer(context, problem, mark, _):
            var what = "invalid YAML: \(problem)"
            if let context { what += " (\(context.text) at line \(context.mark.line))" }
            if problem == "but found another document" {
                return error(mark.line, "the file holds more than one YAML document", "keep one pipeline per file: remove the `---` line and what follows, or move it to its own file")
            }
            var fix = "fix the syntax at line \(mark.line), column \(mark.column): check indentation, colons, quotes and brackets"
            if lineText(mark.line).contains("\t") {
                fix = "indent with spaces: YAML does not allow tabs"
            }
            return error(mark.line, what, fix)
        case let .reader(problem, offset, _, yaml):
            var line: Int?
            if let offset, offset <= yaml.count {
                line = 1 + yaml.prefix(offset).reduce(0) { $1 == "\n" ? $0 + 1 : $0 }
            }
            return error(line, "the file cannot be read as YAML text: \(problem)", "remove control characters and save it as UTF-8")
        case let .duplicatedKeysInMapping(duplicates, context):
            let key = duplicates.first ?? "?"
            let first = context.mark.line
            let second = duplicateLine(key: key, after: context.mark)
            return error(second ?? first, "key '\(key)' appears twice in the same mapping" + (second != nil ? " (first at line \(first))" : ""),
                         "keep only one '\(key):'")
        default:
            return error(nil, "invalid YAML: \(e)", "fix the YAML syntax")
        }
    }

    func lineText(_ line: Int) -> Substring {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        return line >= 1 && line <= lines.count ? lines[line - 1] : ""
    }

    /// Best effort: the line of the second `key:` at the same indentation as the first one (block
    /// mappings; nil for flow mappings and anything unusual).
    func duplicateLine(key: String, after mark: Mark) -> Int? {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        let indent = mark.column - 1
        guard mark.line >= 1, mark.line < lines.count else { return nil }
        for index in mark.line..<lines.count {
            let line = lines[index]
            let body = line.drop { $0 == " " }
            if body.isEmpty || body.hasPrefix("#") { continue }
            // Indentation counts "- " of sequence items, so that keys of a list item line up.
            var column = 0
            var rest = Substring(line)
            while let c = rest.first, c == " " || (c == "-" && rest.dropFirst().first == " ") {
                column += 1
                rest = rest.dropFirst()
            }
            if column < indent { return nil }
            guard column == indent else { continue }
            for candidate in [key, "\"\(key)\"", "'\(key)'"] where rest.hasPrefix(candidate) {
                if rest.dropFirst(candidate.count).drop(while: { $0 == " " }).hasPrefix(":") { return index + 1 }
            }
        }
        return nil
    }
}
