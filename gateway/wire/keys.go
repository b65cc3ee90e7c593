package wire

// API keys (gateway/keys): the bucket every gateway replica watches.
const (
	// KeyBucket is the JetStream key-value bucket of API keys.
	KeyBucket = "nb_keys"
	// KeyPrefix prefixes the key of an API key's entry: "key.<id>".
	KeyPrefix = "key."
)
