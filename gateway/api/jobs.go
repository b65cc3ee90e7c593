package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/notebridge/notebridge/gateway/contracts"
	"github.com/notebridge/notebridge/gateway/jobs"
)

// Job request and response headers (docs/http-api.md, "Job contracts").
const (
	// HeaderIdempotencyKey makes a job submission safe to repeat.
	HeaderIdempotencyKey = "Idempotency-Key"
	// HeaderIdempotentReplayed is "true" on the answer to a repeated
	// submission: the job is the one the first submission made.
	HeaderIdempotentReplayed = "Idempotent-Replayed"
	// HeaderCallbackURL asks for a webhook when the job ends.
	HeaderCallbackURL = "Callback-Url"
)

// maxIdempotencyKey bounds the length of an Idempotency-Key.
const maxIdempotencyKey = 255

// jobTimeout bounds the NATS work of one job request.
const jobTimeout = 10 * time.Second

// jobAccepted is the body of a 202.
type jobAccepted struct {
	ID     string      `json:"id"`
	Status jobs.Status `json:"status"`
	Href   string      `json:"href"`
}

func jobHref(id string) string { return "/jobs/" + id }

// SubmitJob is POST /api/{name}/v{N}/jobs: the job route of a job
// contract, which POST /api/{name} and /api/{name}/v{N} also take.
func SubmitJob(reg *contracts.Registry, b *broker, svc *jobs.Service, lim contracts.Limits) fiber.Handler {
	return func(c *fiber.Ctx) error {
		ct, err := contractOf(reg, c)
		if err != nil {
			return err
		}
		if ct.Mode != contracts.ModeJob {
			return notFound(fmt.Sprintf("%s is a %s contract, so it has no jobs: call POST %s", ct.ID(), ct.Mode, href(ct)))
		}
		k, err := admit(reg, c, lim)
		if err != nil {
			return err
		}
		return submitJob(c, b, svc, k)
	}
}

// submitJob turns an admitted call into a job and answers 202.
func submitJob(c *fiber.Ctx, b *broker, svc *jobs.Service, k *call) error {
	sub := jobs.Submission{
		Contract: k.ct, Body: k.body, RequestID: k.requestID, Traceparent: k.traceparent,
		IdempotencyKey: c.Get(HeaderIdempotencyKey), CallbackURL: c.Get(HeaderCallbackURL), Owner: owner(c),
	}
	if sub.CallbackURL != "" {
		u, err := svc.CheckCallback(sub.CallbackURL)
		switch {
		case errors.Is(err, jobs.ErrCallbackNotAllowed):
			return callbackNotAllowed(u.Host)
		case err != nil:
			return badHeader(HeaderCallbackURL, "must be an absolute http or https URL without user info")
		}
	}
	if c.Request().Header.Peek(HeaderIdempotencyKey) != nil && !validIdempotencyKey(sub.IdempotencyKey) {
		return badHeader(HeaderIdempotencyKey, fmt.Sprintf("must be 1 to %d visible ASCII characters", maxIdempotencyKey))
	}
	ctx, cancel, p := jobContext(b)
	if p != nil {
		return p
	}
	defer cancel()
	rec, replayed, err := svc.Submit(ctx, sub)
	switch {
	case errors.Is(err, jobs.ErrIdempotencyKeyReused):
		return idempotencyKeyReused(k.ct)
	case err != nil:
		return jobsUnavailable(ctx, err)
	}
	c.Set(fiber.HeaderLocation, jobHref(rec.ID))
	if replayed {
		c.Set(HeaderIdempotentReplayed, "true")
	}
	return c.Status(fiber.StatusAccepted).JSON(jobAccepted{ID: rec.ID, Status: rec.Status, Href: jobHref(rec.ID)})
}

// validIdempotencyKey accepts 1 to maxIdempotencyKey visible ASCII
// characters (UUIDs, ULIDs and the like).
func validIdempotencyKey(key string) bool {
	if key == "" || len(key) > maxIdempotencyKey {
		return false
	}
	return !strings.ContainsFunc(key, func(r rune) bool { return r < '!' || r > '~' })
}

// JobStatus is GET /jobs/{id}: the job's record.
func JobStatus(b *broker, svc *jobs.Service) fiber.Handler {
	return func(c *fiber.Ctx) error {
		ctx, cancel, p := jobContext(b)
		if p != nil {
			return p
		}
		defer cancel()
		rec, err := ownJob(ctx, c, svc)
		if err != nil {
			return err
		}
		return sendRecord(c, rec)
	}
}

// ownJob reads the job the path names, as not found unless the request's
// key submitted it: another key cannot tell it exists.
func ownJob(ctx context.Context, c *fiber.Ctx, svc *jobs.Service) (*jobs.Record, error) {
	id := c.Params("id")
	rec, err := svc.Get(ctx, id)
	if err == nil && keyOf(c) != nil && rec.Owner != owner(c) {
		err = jobs.ErrNotFound
	}
	if err != nil {
		return nil, jobProblem(ctx, svc, id, err)
	}
	return rec, nil
}

// CancelJob is DELETE /jobs/{id}: cancel a queued or running job.
func CancelJob(b *broker, svc *jobs.Service) fiber.Handler {
	return func(c *fiber.Ctx) error {
		ctx, cancel, p := jobContext(b)
		if p != nil {
			return p
		}
		defer cancel()
		if _, err := ownJob(ctx, c, svc); err != nil {
			return err
		}
		rec, err := svc.Cancel(ctx, c.Params("id"))
		if errors.Is(err, jobs.ErrFinished) {
			return jobFinished(rec)
		}
		if err != nil {
			return jobProblem(ctx, svc, c.Params("id"), err)
		}
		return sendRecord(c, rec)
	}
}

// jobContext bounds the NATS work of one job request by jobTimeout and by
// the connection to NATS: a request is refused at once while it is down,
// and given up when it drops.
func jobContext(b *broker) (context.Context, context.CancelFunc, *Problem) {
	l, p := b.link()
	if p != nil {
		return nil, nil, p
	}
	ctx, cancel := context.WithTimeout(l.ctx, jobTimeout)
	return ctx, cancel, nil
}

func jobProblem(ctx context.Context, svc *jobs.Service, id string, err error) error {
	if errors.Is(err, jobs.ErrNotFound) {
		return jobNotFound(id, svc.TTL())
	}
	return jobsUnavailable(ctx, err)
}

// jobsUnavailable is the answer to a job request that NATS failed: the
// connection dropped, job mode is not set up (yet, or again), or
// JetStream failed.
func jobsUnavailable(ctx context.Context, err error) *Problem {
	switch {
	case lostDuring(ctx):
		return brokerDown(ctx)
	case errors.Is(err, jobs.ErrNotReady):
		return jobModeNotReady(err)
	}
	return natsUnavailable(err.Error())
}

func sendRecord(c *fiber.Ctx, rec *jobs.Record) error {
	b, err := rec.Public()
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(b)
}

// Job list bounds.
const (
	defaultListLimit = 20
	maxListLimit     = 100
)

// jobList is the body of GET /jobs.
type jobList struct {
	Jobs []json.RawMessage `json:"jobs"`
	// Next is the cursor of the next page, absent on the last.
	Next string `json:"next,omitempty"`
}

// ListJobs is GET /jobs: the caller's jobs (its key's; without keys,
// those submitted without one), newest first, filtered by ?contract=
// (name or name/vN) and ?status=, ?limit= per page, from ?cursor=.
func ListJobs(reg *contracts.Registry, b *broker, svc *jobs.Service) fiber.Handler {
	return func(c *fiber.Ctx) error {
		keep, limit, err := listQuery(reg, c)
		if err != nil {
			return err
		}
		cursor := ""
		if raw := c.Query("cursor"); raw != "" {
			decoded, err := base64.RawURLEncoding.DecodeString(raw)
			if err != nil {
				return invalidQuery("cursor", "is not a cursor this gateway gave: pass next from the previous page, unchanged")
			}
			cursor = string(decoded)
		}
		ctx, cancel, p := jobContext(b)
		if p != nil {
			return p
		}
		defer cancel()
		page, err := svc.List(ctx, owner(c), cursor, limit, keep)
		if errors.Is(err, jobs.ErrBadCursor) {
			return invalidQuery("cursor", "is not a cursor of this key's job list")
		}
		if err != nil {
			return jobsUnavailable(ctx, err)
		}
		out := jobList{Jobs: make([]json.RawMessage, 0, len(page.Jobs))}
		for _, rec := range page.Jobs {
			pub, err := rec.Public()
			if err != nil {
				return err
			}
			out.Jobs = append(out.Jobs, pub)
		}
		if page.Next != "" {
			out.Next = base64.RawURLEncoding.EncodeToString([]byte(page.Next))
		}
		return c.JSON(out)
	}
}

// listQuery reads GET /jobs's filters and page size.
func listQuery(reg *contracts.Registry, c *fiber.Ctx) (keep func(*jobs.Record) bool, limit int, err error) {
	limit = defaultListLimit
	if raw := c.Query("limit"); raw != "" {
		if limit, err = strconv.Atoi(raw); err != nil || limit < 1 || limit > maxListLimit {
			return nil, 0, invalidQuery("limit", fmt.Sprintf("must be an integer from 1 to %d", maxListLimit))
		}
	}
	status := jobs.Status(c.Query("status"))
	switch status {
	case "", jobs.Queued, jobs.Running, jobs.Succeeded, jobs.Failed, jobs.Cancelled:
	default:
		return nil, 0, invalidQuery("status", "must be queued, running, succeeded, failed or cancelled")
	}
	contract := c.Query("contract")
	if contract != "" {
		name, _, _ := strings.Cut(contract, "/v")
		if _, err := reg.Latest(name); err != nil && !errors.Is(err, contracts.ErrUnknownVersion) {
			return nil, 0, invalidQuery("contract", fmt.Sprintf("%q is not a contract of this gateway (name, or name/vN)", contract))
		}
	}
	return func(r *jobs.Record) bool {
		if status != "" && r.Status != status {
			return false
		}
		if contract != "" && r.Contract != contract && !strings.HasPrefix(r.Contract, contract+"/v") {
			return false
		}
		return true
	}, limit, nil
}
