package wire

import (
	"strconv"
	"strings"
)

// Job mode names (docs/protocol.md, "Job mode").
const (
	// JobStream is the JetStream work-queue stream that holds queued jobs.
	JobStream = "NB_JOBS"
	// JobStreamSubjects is what JobStream captures: exactly the four-token
	// subjects of JobSubject, so that the request subject of a sync contract
	// named "jobs" (nb.jobs.v1) is never stored as a job.
	JobStreamSubjects = "nb.jobs.*.*"
	// JobBucket is the JetStream key-value bucket of job records and
	// idempotency keys.
	JobBucket = "nb_jobs"
	// JobAdvisoryStream keeps JetStream's max-deliveries advisories about
	// JobStream until a gateway has marked the job failed.
	JobAdvisoryStream = "NB_JOBS_ADVISORIES"
	// JobAdvisorySubjects is what JobAdvisoryStream captures.
	JobAdvisorySubjects = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES." + JobStream + ".>"
	// JobAdvisoryConsumer is the durable consumer the gateways share on
	// JobAdvisoryStream.
	JobAdvisoryConsumer = "nb-jobs-advisories"
	// HookStream is the work-queue stream of webhook deliveries to make.
	HookStream = "NB_HOOKS"
	// HookStreamSubjects is what HookStream captures.
	HookStreamSubjects = "nb.hooks.job.*"
	// HookConsumer is the durable consumer the gateways share on HookStream.
	HookConsumer = "nb-hooks"
)

// Job message headers, on top of the request headers.
const (
	// HeaderJobID carries the job id on a job message.
	HeaderJobID = "Nb-Job-Id"
	// HeaderMsgID is JetStream's deduplication header; a job message
	// carries the job id in it.
	HeaderMsgID = "Nats-Msg-Id"
)

// Job record key prefixes in JobBucket.
const (
	// JobKeyPrefix prefixes the key of a job record: "job.<id>".
	JobKeyPrefix = "job."
	// IdempotencyKeyPrefix prefixes the key of an idempotency entry:
	// "idem.<hex sha256 of the Idempotency-Key>".
	IdempotencyKeyPrefix = "idem."
	// HookKeyPrefix prefixes the marker that a job's webhook is enqueued:
	// "hook.<id>".
	HookKeyPrefix = "hook."
	// JobOwnerPrefix prefixes the index of a key's jobs, newest last:
	// "own.<key id, or _ without keys>.<created, Unix ns, 19 digits>.<id>".
	JobOwnerPrefix = "own."
)

// JobSubject returns the subject jobs of a contract version are published
// on: "nb.jobs.<name>.v<N>".
func JobSubject(name string, version int) string {
	return "nb.jobs." + name + ".v" + strconv.Itoa(version)
}

// JobConsumer returns the durable consumer the workers of a job contract
// version share: "nb-jobs-<name>-v<N>".
func JobConsumer(name string, version int) string {
	return "nb-jobs-" + name + "-v" + strconv.Itoa(version)
}

// JobCancelSubject returns where the gateway publishes when a running job
// is cancelled: "nb.cancel.job.<id>". It is outside both nb.jobs.*.* and
// the three-token request subjects nb.<name>.v<N>.
func JobCancelSubject(id string) string { return "nb.cancel.job." + id }

// hookSubjectPrefix starts every HookSubject.
const hookSubjectPrefix = "nb.hooks.job."

// HookSubject returns the subject of a job's webhook delivery:
// "nb.hooks.job.<id>".
func HookSubject(id string) string { return hookSubjectPrefix + id }

// HookJobID returns the job id of a HookSubject.
func HookJobID(subject string) string { return strings.TrimPrefix(subject, hookSubjectPrefix) }
