import DeltaConnector
import CouchDBConnector
import Testing

@Suite struct CouchDBFactoryTests {
    @Test func theStoreTypeIsNamed() {
        #expect(CouchDBConnectorFactory().type == "couchdb")
    }
}
