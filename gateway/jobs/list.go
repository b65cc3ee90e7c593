package jobs

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/notebridge/notebridge/gateway/wire"
)

// maxListScan bounds the records one page may read to fill itself: past
// it, the page is shorter and its cursor goes on from where it stopped.
const maxListScan = 1000

// ErrBadCursor is returned for a list cursor this gateway did not make.
var ErrBadCursor = errors.New("invalid job list cursor")

// cursorPattern is the part of an index key after its owner: a creation
// time and a job id.
var cursorPattern = regexp.MustCompile(`^[0-9]{19}\.[A-Za-z0-9_-]{1,64}$`)

// ownerToken is the owner's part of an index key: its key id, or "_" for
// jobs submitted without keys.
func ownerToken(owner string) string {
	if owner == "" {
		return "_"
	}
	return owner
}

// indexKey is a job's entry in its owner's index; keys sort by creation.
func indexKey(r *Record) string {
	return fmt.Sprintf("%s%s.%019d.%s", wire.JobOwnerPrefix, ownerToken(r.Owner), r.CreatedAt.UnixNano(), r.ID)
}

// index records a new job in its owner's index. The entry lives as long
// as the bucket's TTL from the job's creation.
func (s *Store) index(ctx context.Context, r *Record) error {
	_, err := s.kv.Put(ctx, indexKey(r), nil)
	return err
}

// Page is one page of a job list, newest first.
type Page struct {
	Jobs []*Record
	// Next is the cursor of the next page; "" when this is the last.
	Next string
}

// List returns owner's jobs, newest first, that match keeps, at most
// limit, after cursor (a Page.Next; "" from the newest).
func (s *Store) List(ctx context.Context, owner, cursor string, limit int, keep func(*Record) bool) (Page, error) {
	prefix := wire.JobOwnerPrefix + ownerToken(owner) + "."
	if cursor != "" && (!strings.HasPrefix(cursor, prefix) || !cursorPattern.MatchString(cursor[len(prefix):])) {
		return Page{}, ErrBadCursor
	}
	lister, err := s.kv.ListKeysFiltered(ctx, prefix+">")
	if err != nil {
		return Page{}, err
	}
	var keys []string
	for k := range lister.Keys() {
		if cursor == "" || k < cursor {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	slices.Reverse(keys)
	var page Page
	for scanned, k := range keys {
		if len(page.Jobs) == limit || scanned == maxListScan {
			page.Next = keys[scanned-1]
			break
		}
		id := k[strings.LastIndexByte(k, '.')+1:]
		r, _, err := s.Get(ctx, id)
		switch {
		case errors.Is(err, ErrNotFound), errors.Is(err, jetstream.ErrKeyNotFound):
			continue // the record expired before its index entry
		case err != nil:
			return Page{}, err
		}
		if keep(r) {
			page.Jobs = append(page.Jobs, r)
		}
	}
	return page, nil
}

// List returns a page of owner's jobs (Store.List).
func (s *Service) List(ctx context.Context, owner, cursor string, limit int, keep func(*Record) bool) (Page, error) {
	if err := s.usable(); err != nil {
		return Page{}, err
	}
	page, err := s.store.List(ctx, owner, cursor, limit, keep)
	s.suspect(err)
	return page, err
}
