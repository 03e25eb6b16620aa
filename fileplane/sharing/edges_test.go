package sharing_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/fileplane/sharing"
)

// TestLinkOnTheRoot: a zone admin's link on "/" reaches the whole tree.
func TestLinkOnTheRoot(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.write(w.admin, "/a/x.txt", "X")
	_, tok := w.link(w.admin, "/", sharing.LinkOptions{})
	o, err := w.open(tok, "", "")
	require.NoError(t, err)
	require.Equal(t, []string{"/a"}, names(o))
	o, err = w.open(tok, "", "a/x.txt")
	require.NoError(t, err)
	require.Equal(t, "X", string(o.Data))
	_, _, _, err = w.share.CreateLink(context.Background(), w.alice, "/", sharing.LinkOptions{})
	require.ErrorIs(t, err, errs.PermissionDenied, "a member reads the root but may not share it")
}

// TestLinkToADeletedEntry: the token stops working; the log says why.
func TestLinkToADeletedEntry(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	w.home(w.alice, "/proj")
	w.write(w.alice, "/proj/t/a.txt", "A")
	l, tok := w.link(w.alice, "/proj/t", sharing.LinkOptions{})
	_, err := w.files.Delete(ctx, w.alice, "/proj/t", true)
	require.NoError(t, err)
	// A new folder of the same name is another entry.
	w.write(w.alice, "/proj/t/a.txt", "new")
	_, err = w.open(tok, "", "a.txt")
	require.ErrorIs(t, err, errs.NotFound)
	require.Equal(t, []sharing.Outcome{sharing.EntryGone}, w.outcomes(w.alice, l.ID))
	_, err = w.share.RevokeLink(ctx, w.alice, string(l.ID))
	require.NoError(t, err, "its creator may still revoke it")
}

// TestConcurrentOwnerRevokes: two owners revoking each other at once leave
// one owner, never none.
func TestConcurrentOwnerRevokes(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	for i := range 5 {
		p := "/p" + string(rune('0'+i))
		w.home(w.alice, p)
		w.grant(w.alice, p, "user:bob", "owner")
		var wg sync.WaitGroup
		errc := make(chan error, 2)
		for _, pair := range [][2]string{{"alice", "user:bob"}, {"bob", "user:alice"}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := w.alice
				if pair[0] == "bob" {
					c = w.bob
				}
				_, err := w.share.Revoke(ctx, c, p, pair[1], "owner")
				errc <- err
			}()
		}
		wg.Wait()
		close(errc)
		var ok, refused int
		for err := range errc {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, errs.FailedPrecondition), errors.Is(err, errs.NotFound), errors.Is(err, errs.PermissionDenied):
				// The last owner stays; or the revoker lost its role first
				// (between its read and share checks, hence either code).
				refused++
			default:
				t.Fatal(err)
			}
		}
		require.Equal(t, 1, ok, p)
		require.Equal(t, 1, refused, p)
		grants, _, err := w.share.ListGrants(ctx, w.admin, p, authz.FullyConsistent())
		require.NoError(t, err)
		owners := 0
		for _, g := range grants {
			if g.Role == sharing.Owner && !g.Inherited {
				owners++
			}
		}
		require.Equal(t, 1, owners, p)
	}
}
