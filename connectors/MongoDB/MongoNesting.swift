/// How embedded documents become attributes (store setting `nested`): `top` makes every top-level
/// field one attribute (a change inside a sub-document changes that whole field); `paths` makes
/// every dotted path to a leaf an attribute of its own, so edits to different fields of one
/// sub-document merge. Arrays are always one attribute.
public enum MongoNesting: String, Sendable, CaseIterable {
    case top
    case paths
}
