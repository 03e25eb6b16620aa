package soak

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"

	nexusv1 "github.com/nexus-authz/nexus/api/nexus/v1"
)

type worker struct {
	id       int
	c        clients
	l        *Ledger
	r        *Report
	gen      *atomic.Int64
	rng      *rand.Rand
	token    string
	tokenGen int64
	n        int
	start    time.Time
}

func (w *worker) run(ctx context.Context) {
	for ctx.Err() == nil {
		g := w.gen.Load()
		var err error
		switch p := w.rng.IntN(100); {
		case p < 45:
			err = w.write(ctx, g)
		case p < 65:
			err = w.grant(ctx, g)
		default:
			err = w.check(ctx, g)
		}
		if ctx.Err() != nil {
			return // a call cut short by the end is neither counted nor judged
		}
		atomic.AddInt64(&w.r.Ops, 1)
		if err == nil {
			atomic.AddInt64(&w.r.Acked, 1)
			continue
		}
		atomic.AddInt64(&w.r.Failed, 1)
		code := connect.CodeOf(err).String()
		v, _ := w.r.failedByCode.LoadOrStore(code, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
		if code != "unavailable" && code != "unknown" {
			w.r.problem("worker %d: unexpected error: %v", w.id, err)
		}
		waitCtx(ctx, 50*time.Millisecond) // the node may be down
	}
}

func (w *worker) keep(tok string, g int64) {
	if tok != "" {
		w.token, w.tokenGen = tok, g
	}
}

func (w *worker) write(ctx context.Context, g int64) error {
	atomic.AddInt64(&w.r.Writes, 1)
	w.n++
	path := filePath(w.id, w.rng.IntN(foldersPerWorker), w.rng.IntN(filesPerFolder))
	data := make([]byte, 32+w.rng.IntN(480))
	for i := range data {
		data[i] = byte('a' + w.rng.IntN(26))
	}
	data = append([]byte(fmt.Sprintf("w%d n%d ", w.id, w.n)), data...)
	resp, err := w.c.files.Write(ctx, connect.NewRequest(&nexusv1.WriteRequest{Path: path, Data: data}))
	if err != nil { // cut short by the end of the load, too: it may have happened
		w.l.Wrote(path, hashOf(data), 0, false)
		return err
	}
	w.l.Wrote(path, hashOf(data), resp.Msg.GetEntry().GetVersion(), true)
	w.keep(resp.Msg.GetConsistencyToken(), g)
	return nil
}

func (w *worker) grant(ctx context.Context, g int64) error {
	atomic.AddInt64(&w.r.GrantChanges, 1)
	k := GrantKey{Folder: folderPath(w.id, w.rng.IntN(foldersPerWorker)), User: userName(w.rng.IntN(users))}
	cur, definite := w.l.Grant(k)
	want := !cur
	if !definite {
		want = w.rng.IntN(2) == 0
	}
	var tok string
	var err error
	if want {
		var resp *connect.Response[nexusv1.GrantResponse]
		resp, err = w.c.share.Grant(ctx, connect.NewRequest(&nexusv1.GrantRequest{Path: k.Folder, Subject: "user:" + k.User, Role: nexusv1.Role_ROLE_VIEWER}))
		if err == nil {
			tok = resp.Msg.GetConsistencyToken()
		}
	} else {
		var resp *connect.Response[nexusv1.RevokeResponse]
		resp, err = w.c.share.Revoke(ctx, connect.NewRequest(&nexusv1.RevokeRequest{Path: k.Folder, Subject: "user:" + k.User, Role: nexusv1.Role_ROLE_VIEWER}))
		switch {
		case err == nil:
			tok = resp.Msg.GetConsistencyToken()
		case connect.CodeOf(err) == connect.CodeNotFound && !definite:
			// No such grant (a failed grant did not happen, or a failed
			// revoke did): an answer, and the state is known.
			err = nil
		}
	}
	verb := map[bool]string{true: "grant", false: "revoke"}[want]
	outcome := "acknowledged"
	switch {
	case err != nil && ctx.Err() != nil:
		outcome = "cut short by the end of the load"
	case err != nil:
		outcome = "failed: " + err.Error()
	}
	note := fmt.Sprintf("%s at %s, generation %d: %s", verb, time.Since(w.start).Round(time.Millisecond), g, outcome)
	w.l.Granted(k, want, err == nil, note) // a call cut short by the end of the load may have happened
	if err == nil {
		w.keep(tok, g)
	}
	return err
}

// check asks whether a user reads a file, at full consistency or at least
// as fresh as this worker's last write; where the ledger knows the answer
// (the file acknowledged, the grant definite), the answer must be it.
func (w *worker) check(ctx context.Context, g int64) error {
	atomic.AddInt64(&w.r.Checks, 1)
	j, k, x := w.rng.IntN(foldersPerWorker), w.rng.IntN(filesPerFolder), w.rng.IntN(users)
	path := filePath(w.id, j, k)
	gk := GrantKey{Folder: folderPath(w.id, j), User: userName(x)}
	want, definite := w.l.Grant(gk)
	definite = definite && w.l.Exists(path)
	cons, how := full(), "fully_consistent"
	if w.token != "" && w.tokenGen == g && w.rng.IntN(2) == 0 {
		cons, how = fresh(w.token), "at_least_as_fresh(last write)"
	}
	resp, err := w.c.ids.Check(ctx, connect.NewRequest(&nexusv1.CheckRequest{Resource: path, Permission: "read", Subject: "user:" + gk.User, Consistency: cons}))
	var allowed bool
	if err == nil {
		allowed = resp.Msg.GetAllowed()
	}
	switch {
	case connect.CodeOf(err) == connect.CodeNotFound && !w.l.Exists(path):
		// Not written yet (or only by a failed write): an answer.
	case connect.CodeOf(err) == connect.CodeNotFound:
		w.r.divergence.Add(1)
		w.r.problem("divergence while loading: %s, written and acknowledged, is not found (%s)", path, how)
		return nil
	case err != nil:
		return err
	}
	if definite {
		w.r.checksCompared.Add(1)
		if allowed != want {
			w.r.divergence.Add(1)
			w.r.problem("divergence while loading: read %s for user:%s at %s is %v; the ledger says %v; the grant's last calls: %s",
				path, gk.User, how, allowed, want, strings.Join(w.l.History(gk), "; "))
		}
	}
	return nil
}
