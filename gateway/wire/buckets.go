package wire

// CacheBucket is the JetStream key-value bucket of cached replies of
// deterministic contracts (gateway/replycache).
const CacheBucket = "nb_cache"

// UsageBucket is the JetStream key-value bucket of usage totals per day,
// contract version, API key and model (gateway/usage).
const UsageBucket = "nb_usage"

// BudgetBucket is the JetStream key-value bucket of API keys' budget
// spending per period (gateway/usage).
const BudgetBucket = "nb_budgets"
