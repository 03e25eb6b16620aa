package sharing_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/fileplane/access"
	"github.com/nexus-authz/nexus/fileplane/files"
	"github.com/nexus-authz/nexus/fileplane/sharing"
)

type outcome int

const (
	allowed outcome = iota
	denied          // PermissionDenied: may read, not this
	hidden          // NotFound: may not read
)

func (o outcome) String() string { return [...]string{"allowed", "denied", "hidden"}[o] }

func expect(t *testing.T, want outcome, err error, what string) {
	t.Helper()
	switch want {
	case allowed:
		require.NoError(t, err, what)
	case denied:
		require.ErrorIs(t, err, errs.PermissionDenied, what)
	case hidden:
		require.ErrorIs(t, err, errs.NotFound, what)
	}
}

// op is one FileService operation (or sharing) on folder t, needing read,
// write or share there; scratch names it creates or removes carry n.
type op struct {
	name string
	perm string // read, write or share
	call func(ctx context.Context, c access.Caller, t, n string, cons authz.Consistency) error
}

var ops = []op{
	{"Stat", "read", func(ctx context.Context, c access.Caller, t, _ string, cons authz.Consistency) error {
		_, err := matrixFiles.Stat(ctx, c, t+"/doc.txt", cons)
		return err
	}},
	{"List", "read", func(ctx context.Context, c access.Caller, t, _ string, cons authz.Consistency) error {
		_, _, err := matrixFiles.List(ctx, c, t, 0, "", cons)
		return err
	}},
	{"Read", "read", func(ctx context.Context, c access.Caller, t, _ string, cons authz.Consistency) error {
		_, err := matrixFiles.Read(ctx, c, t+"/doc.txt", 0, 0, 0, cons)
		return err
	}},
	{"ListVersions", "read", func(ctx context.Context, c access.Caller, t, _ string, cons authz.Consistency) error {
		_, err := matrixFiles.ListVersions(ctx, c, t+"/doc.txt", cons)
		return err
	}},
	{"Write", "write", func(ctx context.Context, c access.Caller, t, _ string, _ authz.Consistency) error {
		_, _, err := matrixFiles.Write(ctx, c, t+"/doc.txt", []byte("new"), files.WriteOptions{})
		return err
	}},
	{"Mkdir", "write", func(ctx context.Context, c access.Caller, t, n string, _ authz.Consistency) error {
		_, _, err := matrixFiles.Mkdir(ctx, c, t+"/dir-"+n, false)
		return err
	}},
	{"Delete", "write", func(ctx context.Context, c access.Caller, t, n string, _ authz.Consistency) error {
		_, err := matrixFiles.Delete(ctx, c, t+"/del-"+n+".txt", false)
		return err
	}},
	{"Move", "write", func(ctx context.Context, c access.Caller, t, n string, _ authz.Consistency) error {
		_, _, err := matrixFiles.Move(ctx, c, t+"/mv-"+n+".txt", t+"/moved-"+n+".txt")
		return err
	}},
	{"Copy", "write", func(ctx context.Context, c access.Caller, t, n string, _ authz.Consistency) error {
		_, _, err := matrixFiles.Copy(ctx, c, t+"/doc.txt", t+"/copy-"+n+".txt")
		return err
	}},
	{"RestoreVersion", "write", func(ctx context.Context, c access.Caller, t, _ string, _ authz.Consistency) error {
		_, err := matrixFiles.RestoreVersion(ctx, c, t+"/doc.txt", 1)
		return err
	}},
	{"Grant", "share", func(ctx context.Context, c access.Caller, t, _ string, _ authz.Consistency) error {
		_, err := matrixShare.Grant(ctx, c, t, "user:alice", "viewer")
		return err
	}},
}

// The services the ops call, set by TestAccessMatrix (not parallel).
var (
	matrixFiles *files.Service
	matrixShare *sharing.Service
)

// grantable says what a role allows.
func grantable(role, perm string) outcome {
	switch {
	case perm == "read":
		return allowed
	case perm == "write" && role != "viewer":
		return allowed
	case perm == "share" && role == "owner":
		return allowed
	}
	return denied
}

// TestAccessMatrix runs every operation as each role, reached by a direct
// grant, a group, a nested group and a folder's inheritance; then takes the
// access away (revoke, removal from the group) and runs them all again:
// every allow has its deny twin, visible at once with the change's token.
func TestAccessMatrix(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	matrixFiles, matrixShare = w.files, w.share
	w.member("design", "carol", authz.Touch)
	w.member("berlin", "dave", authz.Touch)

	type reach struct {
		name  string
		user  access.Caller
		give  func(parent, t, role string) authz.Token
		take  func(parent, t, role string) authz.Token
		after string
	}
	grantOn := func(subject string, onParent bool) func(parent, t, role string) authz.Token {
		return func(parent, t, role string) authz.Token {
			if onParent {
				return w.grant(w.admin, parent, subject, role)
			}
			return w.grant(w.admin, t, subject, role)
		}
	}
	revokeOn := func(subject string, onParent bool) func(parent, t, role string) authz.Token {
		return func(parent, t, role string) authz.Token {
			p := t
			if onParent {
				p = parent
			}
			tok, err := w.share.Revoke(ctx, w.admin, p, subject, sharing.Role(role))
			require.NoError(w.t, err)
			return tok
		}
	}
	reaches := []reach{
		{"direct", w.bob, grantOn("user:bob", false), revokeOn("user:bob", false), "revoke"},
		{"group", w.carol, grantOn("group:design", false), func(_, _, _ string) authz.Token {
			return w.member("design", "carol", authz.Delete)
		}, "removal from the group"},
		{"nested group", w.dave, grantOn("group:design", false), func(_, _, _ string) authz.Token {
			return w.member("berlin", "dave", authz.Delete)
		}, "removal from the inner group"},
		{"inherited", w.bob, grantOn("user:bob", true), revokeOn("user:bob", true), "revoke on the folder above"},
	}
	for _, r := range reaches {
		for _, role := range []string{"viewer", "editor", "owner"} {
			name := fmt.Sprintf("%s/%s", r.name, role)
			t.Run(name, func(t *testing.T) {
				parent := fmt.Sprintf("/m/%s-%s", r.name[:3], role)
				tf := parent + "/t"
				w.write(w.admin, tf+"/doc.txt", "v1")
				w.write(w.admin, tf+"/doc.txt", "v2")
				for _, n := range []string{"a", "b"} {
					w.write(w.admin, tf+"/del-"+n+".txt", "x")
					w.write(w.admin, tf+"/mv-"+n+".txt", "x")
				}
				switch r.name { // membership comes back for the next role
				case "group":
					w.member("design", "carol", authz.Touch)
				case "nested group":
					w.member("berlin", "dave", authz.Touch)
				}
				// Before any grant: nothing.
				for _, o := range ops {
					expect(t, hidden, o.call(ctx, r.user, tf, "a", authz.MinimizeLatency()), "before: "+o.name)
				}
				tok := r.give(parent, tf, role)
				for _, o := range ops {
					expect(t, grantable(role, o.perm), o.call(ctx, r.user, tf, "a", authz.AtLeastAsFresh(tok)), o.name)
				}
				tok = r.take(parent, tf, role)
				for _, o := range ops {
					expect(t, hidden, o.call(ctx, r.user, tf, "b", authz.AtLeastAsFresh(tok)), "after "+r.after+": "+o.name)
				}
			})
		}
	}
}

// TestLinkMatrix: viewer and editor links open and write as their role
// allows, and nothing after revoke or expiry.
func TestLinkMatrix(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	w.home(w.alice, "/proj")
	w.write(w.alice, "/proj/t/doc.txt", "doc")
	w.write(w.alice, "/proj/t/sub/x.txt", "x")

	type linkOp struct {
		name  string
		write bool
		call  func(tok string) error
	}
	linkOps := []linkOp{
		{"open folder", false, func(tok string) error { _, err := w.open(tok, "", ""); return err }},
		{"open subfolder", false, func(tok string) error { _, err := w.open(tok, "", "sub"); return err }},
		{"open file", false, func(tok string) error { _, err := w.open(tok, "", "doc.txt"); return err }},
		{"overwrite", true, func(tok string) error {
			_, err := w.share.WriteLink(ctx, web, tok, "", "doc.txt", []byte("w"), 0)
			return err
		}},
		{"create", true, func(tok string) error {
			_, err := w.share.WriteLink(ctx, web, tok, "", "sub/new.txt", []byte("n"), 0)
			return err
		}},
	}
	for _, role := range []string{"viewer", "editor"} {
		for _, end := range []string{"revoke", "expiry"} {
			t.Run(role+"/"+end, func(t *testing.T) {
				w.clock.Add(time.Minute) // past the previous case's failures (the per-address limit)
				l, tok := w.link(w.alice, "/proj/t", sharing.LinkOptions{Role: sharing.Role(role), ExpiresIn: time.Hour})
				for _, o := range linkOps {
					want := allowed
					if o.write && role == "viewer" {
						want = denied
					}
					expect(t, want, o.call(tok), o.name)
				}
				if end == "revoke" {
					_, err := w.share.RevokeLink(ctx, w.alice, string(l.ID))
					require.NoError(t, err)
				} else {
					w.clock.Add(time.Hour)
				}
				for _, o := range linkOps {
					expect(t, hidden, o.call(tok), "after "+end+": "+o.name)
				}
			})
		}
	}
}
