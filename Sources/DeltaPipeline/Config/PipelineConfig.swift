import DeltaCore
import DeltaConnector

/// One pipeline as described by a pipeline file (`pipelines/*.yaml`), validated and with every
/// default applied and every path made absolute.
///
/// Invariants (when built by ``PipelineLoader``): store names are unique, every store a flow names
/// is in `stores`, flow names are unique, and every collection maps exactly the stores of its flow.
public struct PipelineConfig: Sendable {
    /// The `pipeline:` name (`[A-Za-z0-9_-]+`); unique among the pipelines one process runs.
    public var name: String
    /// Absolute, standardized path of the pipeline file.
    public var filePath: String
    /// `file:line` of the `pipeline:` entry, for messages (the file as the user named it).
    public var location: String
    /// Absolute folder for the pipeline's state (`state_dir:`, default `<folder of file>/.deltabridge`).
    public var stateDirectory: String
    /// Absolute path of the SQLite ledger (`ledger.path:`, default `<state_dir>/<pipeline>.ledger.sqlite`).
    public var ledgerPath: String
    public var options: PipelineOptions
    /// The stores in file order, after `${ENV}` interpolation.
    public var stores: [StoreSettings]
    /// The flows in file order.
    public var flows: [FlowConfig]

    public init(name: String, filePath: String, location: String, stateDirectory: String, ledgerPath: String,
                options: PipelineOptions = PipelineOptions(), stores: [StoreSettings], flows: [FlowConfig]) {
        self.name = name
        self.filePath = filePath
        self.location = location
        self.stateDirectory = stateDirectory
        self.ledgerPath = ledgerPath
        self.options = options
        self.stores = stores
        self.flows = flows
    }

    /// The settings of the store with this name, or nil.
    public func store(named name: String) -> StoreSettings? {
        stores.first { $0.name.name == name }
    }

    /// The settings of the store with this id, or nil.
    public func store(_ id: StoreID) -> StoreSettings? {
        stores.first { $0.name == id }
    }
}

/// The tunables of a pipeline (`options:`), with the documented defaults.
///
/// Invariants (when loaded): durations are in microseconds and non-negative, `tombstoneRetention`
/// is positive, and `batchSize` and `snapshotBatchSize` are in `1...100_000`.
public struct PipelineOptions: Sendable, Hashable {
    /// Stamps further ahead of the bridge's clock than this are clamped (rule 5). Default 5 s.
    public var maxClockSkew: Int64
    /// How long tombstones are kept before compaction (rule 6). Default 7 days.
    public var tombstoneRetention: Int64
    /// Keep every delta in the ledger (needed for `deltabridge history`). Default false.
    public var history: Bool
    /// Changes per batch. Default 1000.
    public var batchSize: Int
    /// Rows per snapshot chunk (each chunk is one batch); nil: ``batchSize``. Fewer, larger
    /// batches make a snapshot faster, at the cost of memory while it runs.
    public var snapshotBatchSize: Int?

    /// The rows per snapshot chunk in effect.
    public var snapshotChunkSize: Int { snapshotBatchSize ?? batchSize }

    public static let defaultMaxClockSkew: Int64 = 5_000_000
    public static let defaultTombstoneRetention: Int64 = 7 * 86_400 * 1_000_000
    public static let defaultBatchSize = 1000
    public static let batchSizeRange = 1...100_000

    public init(maxClockSkew: Int64 = PipelineOptions.defaultMaxClockSkew,
                tombstoneRetention: Int64 = PipelineOptions.defaultTombstoneRetention,
                history: Bool = false,
                batchSize: Int = PipelineOptions.defaultBatchSize,
                snapshotBatchSize: Int? = nil) {
        self.maxClockSkew = maxClockSkew
        self.tombstoneRetention = tombstoneRetention
        self.history = history
        self.batchSize = batchSize
        self.snapshotBatchSize = snapshotBatchSize
    }
}

/// Which way changes travel between the stores of a flow.
///
/// Invariants (when loaded): store ids are distinct; `twoWay` has at least two stores; a one-way
/// flow has at least one target and never targets its own source.
public enum FlowDirection: Sendable, Hashable {
    /// Changes are captured from `from` only and written to every store in `to` (unconditional writes).
    case oneWay(from: StoreID, to: [StoreID])
    /// Every store is both a source and a target (conditional writes, rule 8).
    case twoWay([StoreID])

    /// All stores of the flow, sources first, in file order.
    public var stores: [StoreID] {
        switch self {
        case let .oneWay(from, to): return [from] + to
        case let .twoWay(stores): return stores
        }
    }

    /// The stores whose changes are captured.
    public var sources: [StoreID] {
        switch self {
        case let .oneWay(from, _): return [from]
        case let .twoWay(stores): return stores
        }
    }

    /// The stores that changes captured from `source` are written to (empty if `source` is not a source).
    public func targets(of source: StoreID) -> [StoreID] {
        switch self {
        case let .oneWay(from, to): return from == source ? to : []
        case let .twoWay(stores): return stores.contains(source) ? stores.filter { $0 != source } : []
        }
    }

    public var isTwoWay: Bool {
        if case .twoWay = self { return true }
        return false
    }
}

/// One `flows:` entry: a set of stores, a direction and the collections they share.
///
/// Invariants (when loaded): `collections` is non-empty, namespaces are unique within the flow, and
/// each collection has a ``StoreMapping`` for exactly the stores of `direction`.
public struct FlowConfig: Sendable {
    /// The flow's name, unique within its pipeline (`[A-Za-z0-9_-]+`).
    public var name: String
    public var direction: FlowDirection
    public var collections: [CollectionMapping]
    /// `file:line` of the flow's entry, for messages.
    public var location: String

    public init(name: String, direction: FlowDirection, collections: [CollectionMapping], location: String) {
        self.name = name
        self.direction = direction
        self.collections = collections
        self.location = location
    }

    /// The collection with this namespace, or nil.
    public func collection(_ namespace: Namespace) -> CollectionMapping? {
        collections.first { $0.namespace == namespace }
    }
}

/// A logical collection (namespace) of a flow and how each store of the flow holds it.
///
/// Attribute filters use logical names (after renames). Invariant: `include` and `exclude` are
/// disjoint and `exclude` never names a key attribute; key attributes are always admitted.
public struct CollectionMapping: Sendable {
    public let namespace: Namespace
    /// Logical attributes to sync (nil: all). Key attributes are admitted even when not listed.
    public let include: Set<String>?
    /// Logical attributes never synced.
    public let exclude: Set<String>
    /// One mapping per store of the flow.
    public let stores: [StoreID: StoreMapping]
    /// `file:line` of the collection's entry, for messages.
    public let location: String
    /// The logical names of every store's key attributes (always admitted).
    public let logicalKeyAttributes: Set<String>
    /// True when no include or exclude list filters attributes (``admits(_:)`` is always true).
    public let admitsEverything: Bool

    public init(namespace: Namespace, include: Set<String>? = nil, exclude: Set<String> = [],
                stores: [StoreID: StoreMapping], location: String = "") {
        self.namespace = namespace
        self.include = include
        self.exclude = exclude
        self.stores = stores
        self.location = location
        var keys = Set<String>()
        for mapping in stores.values {
            for attribute in mapping.spec.keyAttributes { keys.insert(mapping.logicalName(attribute)) }
        }
        self.logicalKeyAttributes = keys
        self.admitsEverything = include == nil && exclude.isEmpty
    }

    /// Whether the logical attribute passes the include/exclude filters (keys always do).
    public func admits(_ logical: String) -> Bool {
        if admitsEverything { return true }
        if logicalKeyAttributes.contains(logical) { return true }
        if exclude.contains(logical) { return false }
        if let include { return include.contains(logical) }
        return true
    }

    /// The mapping of one store, or nil if the store is not part of the flow.
    public func mapping(for store: StoreID) -> StoreMapping? {
        stores[store]
    }
}

/// How one store holds a collection: its table/collection spec (store attribute names), the
/// store → logical renames and the optional change-time attribute.
///
/// Invariant: `renames` is one-to-one, so ``logicalName(_:)`` and ``storeName(_:)`` are inverses.
public struct StoreMapping: Sendable {
    /// Table or collection name, key attributes and JSON attributes, all in the store's own names.
    public let spec: CollectionSpec
    /// Store attribute name → logical name; attributes not listed keep their name.
    public let renames: [String: String]
    /// Store attribute holding the change time (rule 3), if the pipeline names one.
    public let timeAttribute: String?
    /// `file:line` of the store's entry under the collection's `stores:`, for messages.
    public let location: String
    private let storeNames: [String: String]
    /// True when store and logical attribute names are the same (no renames).
    public var keepsNames: Bool { renames.isEmpty }

    public init(spec: CollectionSpec, renames: [String: String] = [:], timeAttribute: String? = nil, location: String = "") {
        self.spec = spec
        self.renames = renames
        self.timeAttribute = timeAttribute
        self.location = location
        var inverse = [String: String]()
        for (store, logical) in renames { inverse[logical] = store }
        self.storeNames = inverse
    }

    /// The logical name of a store attribute.
    public func logicalName(_ storeAttribute: String) -> String {
        renames.isEmpty ? storeAttribute : renames[storeAttribute] ?? storeAttribute
    }

    /// The store's name for a logical attribute.
    public func storeName(_ logical: String) -> String {
        storeNames.isEmpty ? logical : storeNames[logical] ?? logical
    }
}
