import DeltaConnector
import MongoDBConnector
import Testing

@Suite struct MongoDBFactoryTests {
    @Test func theStoreTypeIsNamed() {
        #expect(MongoDBConnectorFactory().type == "mongodb")
    }
}
