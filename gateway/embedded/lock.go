package embedded

import (
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/notebridge/notebridge/gateway/wire"
)

// The users of a locked server.
const (
	GatewayUser = "gateway"
	WorkerUser  = "worker"
)

// longestReply bounds how long a worker may answer a request it received:
// the longest stream (a contract's timeout is at most an hour), with room.
const longestReply = 2 * time.Hour

// Lock locks the server down: no anonymous client, a gateway user that may
// do anything, and a worker user that may only serve contracts
// (docs/operations.md, "What each role uses on NATS").
type Lock struct {
	GatewayPassword string
	WorkerPassword  string
}

// users are the accounts of a locked server.
func (l *Lock) users() []*server.User {
	return []*server.User{
		{Username: GatewayUser, Password: l.GatewayPassword},
		{Username: WorkerUser, Password: l.WorkerPassword, Permissions: WorkerPermissions()},
	}
}

// WorkerPermissions are what a worker process may do: take requests of
// contracts and answer them (any number of messages, for a stream), be
// discovered, pull, acknowledge and record jobs, and hear cancellations;
// not call a contract, read anyone's inbox but its own, answer a request
// it did not receive, or manage streams, buckets or keys.
func WorkerPermissions() *server.Permissions {
	inbox := wire.WorkerInboxPrefix + ".>"
	return &server.Permissions{
		Subscribe: &server.SubjectPermission{Allow: []string{
			"nb.*.*",          // nb.<name>.v<N>: contract requests
			"nb.pulls.*.*",    // a job worker's status endpoint
			"nb.cancel.job.*", // a job's cancellation
			"$SRV.>",          // NATS micro discovery
			inbox,             // its own replies: JetStream's, a stream's cancel
		}},
		Publish: &server.SubjectPermission{Allow: []string{
			"$JS.API.INFO",
			"$JS.API.STREAM.INFO." + wire.JobStream,
			"$JS.API.STREAM.INFO.KV_" + wire.JobBucket,
			"$JS.API.STREAM.NAMES",
			"$JS.API.STREAM.MSG.GET.KV_" + wire.JobBucket,
			"$JS.API.DIRECT.GET.KV_" + wire.JobBucket + ".>",
			"$JS.API.CONSUMER.INFO." + wire.JobStream + ".>",
			"$JS.API.CONSUMER.MSG.NEXT." + wire.JobStream + ".>",
			"$JS.ACK." + wire.JobStream + ".>",
			"$KV." + wire.JobBucket + "." + wire.JobKeyPrefix + ">", // job records
		}},
		Response: &server.ResponsePermission{MaxMsgs: -1, Expires: longestReply},
	}
}
