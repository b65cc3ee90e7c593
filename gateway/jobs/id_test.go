package jobs

import "testing"

// Job ids are unguessable: 128 random bits, nothing shared between ids made
// one after another (a nuid's ids share their first 12 characters).
func TestJobIDsAreRandom(t *testing.T) {
	seen := map[string]bool{}
	prev := newID()
	for range 1000 {
		id := newID()
		if len(id) != 22 || !ValidID(id) {
			t.Fatalf("id %q: got %d characters; want 22 of [A-Za-z0-9_-]", id, len(id))
		}
		if seen[id] {
			t.Fatalf("id %q made twice", id)
		}
		seen[id] = true
		if id[:6] == prev[:6] {
			t.Errorf("ids %s and %s, made one after the other, share their first 6 characters", prev, id)
		}
		prev = id
	}
}
