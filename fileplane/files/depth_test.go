package files_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/fileplane/access"
	"github.com/nexus-authz/nexus/fileplane/files"
	"github.com/nexus-authz/nexus/fileplane/paths"
	"github.com/nexus-authz/nexus/fileplane/paths/pathstest"
)

// deepPath is a path n levels deep: /top/l2/l3/...
func deepPath(top string, n int) string {
	segs := []string{top}
	for i := 2; i <= n; i++ {
		segs = append(segs, "l"+strings.Repeat("x", i%3)+string(rune('a'+i%26)))
	}
	return "/" + strings.Join(segs, "/")
}

// requireMissing asserts that nothing exists at p (for the admin, who sees
// everything).
func (w *world) requireMissing(p string) {
	w.t.Helper()
	_, err := w.svc.Stat(context.Background(), w.admin, p, ml)
	require.ErrorIs(w.t, err, errs.NotFound, "%s must not have been created", p)
}

func TestCreateStopsAtTheDepthLimit(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOpts{})
	ctx := context.Background()
	at, past := deepPath("mk", paths.MaxDepth), deepPath("mk", paths.MaxDepth+1)
	require.Equal(t, paths.MaxDepth, paths.MustParse(at).Depth())

	t.Run("mkdir -p", func(t *testing.T) {
		_, _, err := w.svc.Mkdir(ctx, w.admin, past, true)
		require.ErrorIs(t, err, errs.InvalidArgument)
		require.Contains(t, err.Error(), "at most 32 levels")
		w.requireMissing("/mk") // refused before any parent is made
		it, _, err := w.svc.Mkdir(ctx, w.admin, at, true)
		require.NoError(t, err, "at the limit")
		require.Equal(t, paths.Path(at), it.Path)
	})
	t.Run("mkdir", func(t *testing.T) {
		_, _, err := w.svc.Mkdir(ctx, w.admin, past, false)
		require.ErrorIs(t, err, errs.InvalidArgument, "one past, below a folder at the limit")
	})
	t.Run("write with parents", func(t *testing.T) {
		wat, wpast := deepPath("wr", paths.MaxDepth), deepPath("wr", paths.MaxDepth+1)
		_, _, err := w.svc.Write(ctx, w.admin, wpast, []byte("x"), files.WriteOptions{CreateParents: true})
		require.ErrorIs(t, err, errs.InvalidArgument)
		w.requireMissing("/wr")
		_, _, err = w.svc.Write(ctx, w.admin, wat, []byte("x"), files.WriteOptions{CreateParents: true})
		require.NoError(t, err, "a file at the limit")
		_, _, err = w.svc.Write(ctx, w.admin, at+"/f.txt", []byte("x"), files.WriteOptions{})
		require.ErrorIs(t, err, errs.InvalidArgument, "a file in a folder at the limit is one past it")
	})
	t.Run("upload", func(t *testing.T) {
		_, err := w.svc.BeginUpload(ctx, w.admin, deepPath("up", paths.MaxDepth+1), 1, files.WriteOptions{CreateParents: true})
		require.ErrorIs(t, err, errs.InvalidArgument)
		u, err := w.svc.BeginUpload(ctx, w.admin, deepPath("up", paths.MaxDepth), 1, files.WriteOptions{CreateParents: true})
		require.NoError(t, err)
		_, err = w.svc.AppendUpload(ctx, w.admin, u.ID, 0, []byte("x"))
		require.NoError(t, err)
		_, _, err = w.svc.CommitUpload(ctx, w.admin, u.ID)
		require.NoError(t, err, "at the limit")
	})
}

// TestMoveAndCopyCountTheDeepestEntryBelow: the depth that matters is the
// one of the deepest entry below the source, once moved or copied.
func TestMoveAndCopyCountTheDeepestEntryBelow(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOpts{})
	ctx := context.Background()
	// /m/c1/c2/f.txt: 3 levels below /m.
	w.write(w.admin, "/m/c1/c2/f.txt", "x")
	fits := deepPath("dst", paths.MaxDepth-4)    // /m there: f.txt at MaxDepth
	tooDeep := deepPath("dst", paths.MaxDepth-3) // f.txt one past it
	for _, p := range []string{fits, tooDeep} {
		_, _, err := w.svc.Mkdir(ctx, w.admin, p, true)
		require.NoError(t, err)
	}

	for _, op := range []struct {
		name string
		do   func(src, dst string) error
	}{
		{"move", func(src, dst string) error { _, _, err := w.svc.Move(ctx, w.admin, src, dst); return err }},
		{"copy", func(src, dst string) error { _, _, err := w.svc.Copy(ctx, w.admin, src, dst); return err }},
	} {
		t.Run(op.name, func(t *testing.T) {
			err := op.do("/m", tooDeep+"/m")
			require.ErrorIs(t, err, errs.InvalidArgument, "the file below would be one past the limit")
			require.Contains(t, err.Error(), "at most 32 levels")
			w.requireMissing(tooDeep + "/m")
			_, err = w.svc.Stat(ctx, w.admin, "/m/c1/c2/f.txt", ml)
			require.NoError(t, err, "the source is where it was")

			err = op.do("/m/c1/c2/f.txt", deepPath("dst", paths.MaxDepth+1))
			require.ErrorIs(t, err, errs.InvalidArgument, "a destination path past the limit")

			require.NoError(t, op.do("/m", fits+"/m"), "the file below lands at the limit")
			_, err = w.svc.Stat(ctx, w.admin, fits+"/m/c1/c2/f.txt", ml)
			require.NoError(t, err)
			if op.name == "move" {
				require.NoError(t, op.do(fits+"/m", "/m"), "back for the next case")
			} else {
				_, err := w.svc.Delete(ctx, w.admin, fits+"/m", true)
				require.NoError(t, err)
			}
		})
	}
}

// TestSearchesOfOthersWorkBesideATooDeepHiddenFile: a chain deeper than the
// engine's dispatch depth, written before the limit existed, is denied to
// everyone item by item; members who cannot see it glob and grep the
// whole zone as before, and learn nothing from its words.
func TestSearchesOfOthersWorkBesideATooDeepHiddenFile(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOpts{})
	ctx := context.Background()
	w.write(w.admin, "/pub/note.txt", "zebrafish here too")
	w.grant("/pub", "viewer", "viewer")
	w.grant("/pub", "viewer", "member")
	w.grant("/pub", "viewer", "owner")
	_, _, err := w.svc.Mkdir(ctx, w.admin, "/hidden", false)
	require.NoError(t, err)
	w.grant("/hidden", "owner", "owner")
	top, err := w.tree.Resolve(ctx, "z1", "/hidden")
	require.NoError(t, err)
	secret := []byte("the zebrafish secret")
	obj, err := w.content.Write(ctx, strings.NewReader(string(secret)), 1<<20)
	require.NoError(t, err)
	file := paths.Entry{Name: "secret.txt", Kind: paths.File, Size: obj.Size, ContentHash: obj.Hash.String(), Version: 1, MediaType: "text/plain"}
	pathstest.DeepChain(t, w.engine, top.Entry(), 60, "owner", file, func(ctx context.Context, tx *sql.Tx, _ paths.Entry) error {
		return w.content.Save(ctx, tx, obj)
	})

	// Its owner (owner of every entry of the chain, as the Tree made them)
	// and the zone admin may read the deep file: the engine may decide it
	// through owner or zone->manage before it runs out of depth. Of them
	// only the absence of an error is asked.
	for _, c := range []access.Caller{w.viewer, w.member, w.owner, w.admin} {
		got, _ := w.globAll(c, "/**/*.txt", 0)
		require.Contains(t, got, "/pub/note.txt", "%s: glob over /", c.User)
		res, err := w.svc.Grep(ctx, c, files.GrepOptions{Pattern: "zebrafish"}, ml)
		require.NoError(t, err, "%s: grep over / for a word of the deep file", c.User)
		lines := matchLines(res.Matches)
		require.Contains(t, lines, "/pub/note.txt:1:zebrafish here too", c.User)
		if c == w.viewer || c == w.member {
			require.Equal(t, []string{"/pub/note.txt"}, got, "%s: glob", c.User)
			require.Len(t, lines, 1, "%s: the deep file is hidden, and its words too", c.User)
		}
	}
}
