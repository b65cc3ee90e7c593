package wire

// CacheBucket is the JetStream key-value bucket of cached replies of
// deterministic contracts (gateway/replycache).
const CacheBucket = "nb_cache"
