package wire

// API keys (gateway/keys): the bucket every gateway replica watches.
const (
	// KeyBucket is the JetStream key-value bucket of API keys.
	KeyBucket = "nb_keys"
	// KeyPrefix prefixes the key of an API key's entry: "key.<id>".
	KeyPrefix = "key."
)

// Per-key rate limits (gateway/keys.Limiter): the bucket of their state.
const (
	// RateBucket is the JetStream key-value bucket of rate limit state.
	RateBucket = "nb_ratelimits"
	// RatePrefix prefixes a key's entry: "rate.<key id>".
	RatePrefix = "rate."
)
