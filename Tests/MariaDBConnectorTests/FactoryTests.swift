import DeltaConnector
import MariaDBConnector
import Testing

@Suite struct MariaDBFactoryTests {
    @Test func theStoreTypeIsNamed() {
        #expect(MariaDBConnectorFactory().type == "mariadb")
    }
}
