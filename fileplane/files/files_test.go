package files_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/fileplane/content"
	"github.com/nexus-authz/nexus/fileplane/files"
	"github.com/nexus-authz/nexus/fileplane/paths"
)

func TestWriteReadRoundTripAndVersions(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOpts{})
	ctx := context.Background()
	it := w.write(w.admin, "/docs/readme.md", "hello")
	require.Equal(t, int64(1), it.Entry.Version)
	require.Equal(t, "text/markdown; charset=utf-8", it.Entry.MediaType)
	got, err := w.read(w.admin, "/docs/readme.md", ml)
	require.NoError(t, err)
	require.Equal(t, "hello", got)

	w.write(w.admin, "/docs/readme.md", "hello, world")
	r, err := w.svc.Read(ctx, w.admin, "/docs/readme.md", 7, 5, 0, ml)
	require.NoError(t, err)
	require.Equal(t, "world", string(r.Data))
	require.True(t, r.EOF)
	r, err = w.svc.Read(ctx, w.admin, "/docs/readme.md", 0, 0, 1, ml)
	require.NoError(t, err)
	require.Equal(t, "hello", string(r.Data), "read at an old version")

	vs, err := w.svc.ListVersions(ctx, w.admin, "/docs/readme.md", ml)
	require.NoError(t, err)
	require.Len(t, vs, 2)
	require.Equal(t, int64(2), vs[0].Number, "newest first")

	it, err = w.svc.RestoreVersion(ctx, w.admin, "/docs/readme.md", 1)
	require.NoError(t, err)
	require.Equal(t, int64(3), it.Entry.Version, "a restore is a new version")
	got, err = w.read(w.admin, "/docs/readme.md", ml)
	require.NoError(t, err)
	require.Equal(t, "hello", got)
	_, err = w.svc.RestoreVersion(ctx, w.admin, "/docs/readme.md", 9)
	require.ErrorIs(t, err, errs.NotFound)
}

func TestCopySharesContent(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOpts{})
	ctx := context.Background()
	data := make([]byte, 3*content.ChunkSize/2)
	_, _ = rand.Read(data)
	_, _, err := w.svc.Write(ctx, w.admin, "/src/a.bin", data, files.WriteOptions{CreateParents: true})
	require.NoError(t, err)
	w.write(w.admin, "/src/sub/b.txt", "b")
	countChunks := func() int {
		n := 0
		require.NoError(t, w.content.Chunks().Walk(ctx, func(content.Hash, time.Time) error { n++; return nil }))
		return n
	}
	before := countChunks()
	it, _, err := w.svc.Copy(ctx, w.admin, "/src", "/dst")
	require.NoError(t, err)
	require.Equal(t, paths.Folder, it.Entry.Kind)
	require.Equal(t, before, countChunks(), "a copy stores no new chunks")
	r, err := w.svc.Read(ctx, w.admin, "/dst/a.bin", 0, 0, 0, ml)
	require.NoError(t, err)
	require.True(t, bytes.Equal(data, r.Data))
	got, err := w.read(w.admin, "/dst/sub/b.txt", ml)
	require.NoError(t, err)
	require.Equal(t, "b", got)
	_, _, err = w.svc.Copy(ctx, w.admin, "/src", "/src/sub/inner")
	require.ErrorIs(t, err, errs.InvalidArgument)
}

func TestRacingWritersExactlyOneWins(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOpts{})
	ctx := context.Background()
	for round := 0; round < 10; round++ {
		p := fmt.Sprintf("/race/%d", round)
		it := w.write(w.admin, p, "v1")
		var wg sync.WaitGroup
		results := make([]error, 4)
		for i := range results {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				_, _, results[i] = w.svc.Write(ctx, w.admin, p, []byte(fmt.Sprintf("writer %d", i)), files.WriteOptions{ExpectedVersion: it.Entry.Version})
			}(i)
		}
		wg.Wait()
		wins := 0
		for _, err := range results {
			if err == nil {
				wins++
			} else {
				require.ErrorIs(t, err, errs.Aborted)
				require.Contains(t, err.Error(), "is at version 2, not the expected 1")
			}
		}
		require.Equal(t, 1, wins, "round %d", round)
	}
}

func TestChunkedUpload(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOpts{limits: files.Limits{MaxUnaryBytes: 1024, MaxFileBytes: 1 << 20, UploadTTL: time.Hour}})
	data := w.uploadFile(t, "/up/file.bin", 5500)
	var got []byte
	for off := int64(0); off < int64(len(data)); off += 1000 {
		r, err := w.svc.Read(context.Background(), w.admin, "/up/file.bin", off, 1000, 0, ml)
		require.NoError(t, err)
		got = append(got, r.Data...)
	}
	require.True(t, bytes.Equal(data, got))
	_, err := w.svc.AppendUpload(context.Background(), w.admin, "upl_gone", 0, []byte("x"))
	require.ErrorIs(t, err, errs.NotFound)
}

// TestListFiltersInBatchesAndPagesStayCorrect lists a zone's root, which
// every member may list and where each entry is filtered on its own (below
// the root, read on a folder is read on everything in it).
func TestListFiltersInBatchesAndPagesStayCorrect(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOpts{})
	ctx := context.Background()
	visible := map[string]bool{}
	for i := 0; i < 250; i++ {
		name := fmt.Sprintf("f%03d", i)
		w.write(w.admin, "/"+name, name)
		if i%3 == 0 {
			w.grant("/"+name, "viewer", "member")
			visible[name] = true
		}
	}
	_, _, err := w.svc.Mkdir(ctx, w.admin, "/shared", false)
	require.NoError(t, err)
	w.grant("/shared", "viewer", "member")
	visible["shared"] = true

	var seen []string
	token := ""
	for pages := 1; ; pages++ {
		items, next, err := w.svc.List(ctx, w.member, "/", 10, token, ml)
		require.NoError(t, err)
		if next != "" {
			require.Len(t, items, 10, "every page but the last is full, however many entries are hidden")
		}
		for _, it := range items {
			seen = append(seen, it.Entry.Name)
		}
		if pages == 2 {
			// Changes between pages: an insert after the cursor appears, a
			// delete after the cursor disappears, an insert before it does
			// not disturb the paging.
			w.write(w.admin, "/f999", "late")
			w.grant("/f999", "viewer", "member")
			visible["f999"] = true
			w.write(w.admin, "/a-early", "early") // sorts before the cursor
			_, err := w.svc.Delete(ctx, w.admin, "/f246", false)
			require.NoError(t, err)
			delete(visible, "f246")
		}
		if next == "" {
			break
		}
		token = next
	}
	want := make([]string, 0, len(visible))
	for name := range visible {
		want = append(want, name)
	}
	require.ElementsMatch(t, want, seen, "exactly the readable entries, each once")
	for i := 1; i < len(seen); i++ {
		require.Less(t, seen[i-1], seen[i], "ordered by name")
	}

	t.Run("the outsider lists its own zone's root, not this one", func(t *testing.T) {
		items, _, err := w.svc.List(ctx, w.outsider, "/", 0, "", ml)
		require.NoError(t, err)
		require.Empty(t, items)
	})
	t.Run("below the root, read on the folder reads everything in it", func(t *testing.T) {
		w.write(w.admin, "/shared/a", "a")
		w.write(w.admin, "/shared/b", "b")
		items, _, err := w.svc.List(ctx, w.member, "/shared", 0, "", ml)
		require.NoError(t, err)
		require.Len(t, items, 2)
	})
}

// TestContentGCKeepsWhatVersionsAndUploadsReference collects with no grace
// after deletes and overwrites: every version still listed reads back, an
// open upload's chunks survive, and the content of a deleted file is gone.
func TestContentGCKeepsWhatVersionsAndUploadsReference(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOpts{limits: files.Limits{MaxUnaryBytes: 1 << 20, MaxFileBytes: 8 << 20, UploadTTL: time.Hour}})
	ctx := context.Background()
	w.write(w.admin, "/keep.txt", "version one")
	w.write(w.admin, "/keep.txt", "version two")
	w.write(w.admin, "/gone.txt", "only here")
	_, err := w.svc.Delete(ctx, w.admin, "/gone.txt", false)
	require.NoError(t, err)
	u, err := w.svc.BeginUpload(ctx, w.admin, "/pending.bin", 0, files.WriteOptions{})
	require.NoError(t, err)
	_, err = w.svc.AppendUpload(ctx, w.admin, u.ID, 0, []byte("pending part"))
	require.NoError(t, err)

	st, err := w.content.GC(ctx, 0, w.svc.Referencers()...)
	require.NoError(t, err)
	require.Equal(t, 1, st.Objects, "only the deleted file's content is collected: %+v", st)

	for v, want := range map[int64]string{1: "version one", 2: "version two"} {
		r, err := w.svc.Read(ctx, w.admin, "/keep.txt", 0, 0, v, ml)
		require.NoError(t, err)
		require.Equal(t, want, string(r.Data))
	}
	it, _, err := w.svc.CommitUpload(ctx, w.admin, u.ID)
	require.NoError(t, err, "the open upload's part survived the collection")
	got, err := w.read(w.admin, it.Path.String(), ml)
	require.NoError(t, err)
	require.Equal(t, "pending part", got)
}
