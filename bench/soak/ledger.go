// Package soak is Nexus's soak and crash harness: mixed load (file writes,
// grants and revokes, checks) against real `nexus serve` processes, with
// kill -9 of the node (and, on PostgreSQL, of the primary, and a failover
// to its replica) at random moments; afterwards every acknowledged write
// must be there, and every decision of a sample must equal a fresh
// process's. It runs as a test that skips unless NEXUS_SOAK_BIN names a
// nexus binary (make soak); TestLedger, the harness's own logic, always
// runs.
//
// This file is the ledger: what the load was told (acknowledged) and what
// it may have done without being told (an error can hide a write that
// happened), and what it therefore requires of the end state.
package soak

import (
	"fmt"
	"sync"
)

// Version is one acknowledged file write: the version number the server
// gave it and the BLAKE3 hash of the bytes sent.
type Version struct {
	Number int64
	Hash   string
}

// fileState is one path's history as the load knows it. A path is written
// by one worker only, one write at a time, so its acknowledged writes are
// in order.
type fileState struct {
	acked []Version
	// maybe are hashes of writes that failed after the last acknowledged
	// one: each may or may not have happened.
	maybe []string
}

// grantState is one (folder, user) viewer grant as the load knows it.
type grantState struct {
	granted bool     // after the last acknowledged grant or revoke
	maybe   []bool   // the states failed calls after it may have left
	history []string // the last calls, for a report
}

// GrantKey names a viewer grant: a folder and a user.
type GrantKey struct {
	Folder, User string
}

// Ledger records acknowledged and unacknowledged operations. It is safe
// for concurrent use; each path and each grant key has one writer.
type Ledger struct {
	mu     sync.Mutex
	files  map[string]*fileState
	grants map[GrantKey]*grantState
}

// NewLedger returns an empty ledger.
func NewLedger() *Ledger {
	return &Ledger{files: map[string]*fileState{}, grants: map[GrantKey]*grantState{}}
}

func (l *Ledger) file(path string) *fileState {
	f := l.files[path]
	if f == nil {
		f = &fileState{}
		l.files[path] = f
	}
	return f
}

func (l *Ledger) grant(k GrantKey) *grantState {
	g := l.grants[k]
	if g == nil {
		g = &grantState{}
		l.grants[k] = g
	}
	return g
}

// Wrote records a write of content hashed hash to path: acknowledged as
// version number (ok), or failed (!ok), so maybe done.
func (l *Ledger) Wrote(path, hash string, number int64, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.file(path)
	if !ok {
		f.maybe = append(f.maybe, hash)
		return
	}
	f.acked = append(f.acked, Version{Number: number, Hash: hash})
	f.maybe = nil
}

// Granted records a grant (granted) or revoke (!granted) of k,
// acknowledged (ok) or failed; note describes the call for a report.
func (l *Ledger) Granted(k GrantKey, granted, ok bool, note string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	g := l.grant(k)
	if note != "" {
		if len(g.history) == 6 {
			g.history = g.history[1:]
		}
		g.history = append(g.history, note)
	}
	if !ok {
		g.maybe = append(g.maybe, granted)
		return
	}
	g.granted = granted
	g.maybe = nil
}

// Grant returns k's state and whether it is definite (no failed call
// since the last acknowledged one).
func (l *Ledger) Grant(k GrantKey) (granted, definite bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	g := l.grants[k]
	if g == nil {
		return false, true
	}
	return g.granted, len(g.maybe) == 0
}

// History returns the last calls recorded for k.
func (l *Ledger) History(k GrantKey) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if g := l.grants[k]; g != nil {
		return append([]string{}, g.history...)
	}
	return nil
}

// Exists reports whether path has an acknowledged write.
func (l *Ledger) Exists(path string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.files[path]
	return f != nil && len(f.acked) > 0
}

// Counts returns the acknowledged file writes and grant changes recorded.
func (l *Ledger) Counts() (files, paths, grants int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, f := range l.files {
		files += len(f.acked)
		if len(f.acked) > 0 {
			paths++
		}
	}
	return files, paths, len(l.grants)
}

// Observed is what the end state shows of one path: its versions (number
// to hash) and the hash of its current content ("" if the path is
// missing).
type Observed struct {
	Versions map[int64]string
	Current  string
}

// CheckFile compares path's end state with the ledger: every acknowledged
// version is there with its hash, and the current content is the last
// acknowledged write's or one of the failed writes after it. It returns
// the acknowledged writes checked and a description of each violation.
func (l *Ledger) CheckFile(path string, o Observed) (checked int, bad []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.files[path]
	if f == nil {
		return 0, nil
	}
	for _, v := range f.acked {
		checked++
		got, ok := o.Versions[v.Number]
		switch {
		case !ok:
			bad = append(bad, fmt.Sprintf("%s: acknowledged version %d (%.12s) is missing", path, v.Number, v.Hash))
		case got != v.Hash:
			bad = append(bad, fmt.Sprintf("%s: acknowledged version %d is %.12s, not %.12s as written", path, v.Number, got, v.Hash))
		}
	}
	allowed := append([]string{}, f.maybe...)
	if len(f.acked) > 0 {
		allowed = append(allowed, f.acked[len(f.acked)-1].Hash)
	} else {
		allowed = append(allowed, "") // only failed writes: it may not exist
	}
	for _, h := range allowed {
		if h == o.Current {
			return checked, bad
		}
	}
	return checked, append(bad, fmt.Sprintf("%s: current content %.12s is neither the last acknowledged write nor a failed one after it", path, o.Current))
}

// ResolveGrant compares k's end state (observed) with the ledger: it must
// be the last acknowledged state or one a failed call after it may have
// left. On success the ledger takes the observed state as definite, so
// later decisions are compared with it.
func (l *Ledger) ResolveGrant(k GrantKey, observed bool) (ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	g := l.grant(k)
	ok = observed == g.granted
	for _, m := range g.maybe {
		ok = ok || observed == m
	}
	if ok {
		g.granted, g.maybe = observed, nil
	}
	return ok
}

// GrantKeys returns every grant key the load touched.
func (l *Ledger) GrantKeys() []GrantKey {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]GrantKey, 0, len(l.grants))
	for k := range l.grants {
		out = append(out, k)
	}
	return out
}

// Paths returns every path the load wrote (or tried to).
func (l *Ledger) Paths() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, 0, len(l.files))
	for p := range l.files {
		out = append(out, p)
	}
	return out
}
