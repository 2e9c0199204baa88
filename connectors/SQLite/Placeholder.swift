// Replaced by the connector.
