package server_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"testing"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"

	nexusv1 "github.com/nexus-authz/nexus/api/nexus/v1"
	"github.com/nexus-authz/nexus/api/nexus/v1/nexusv1connect"
	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/server"
	"github.com/nexus-authz/nexus/storage/postgres/pgtest"
)

// On PostgreSQL, SearchService and MemoryService are served: a file written
// on one node is found by Search on another (the queue is in the database),
// and a memory remembered on one is recalled on the other.
func TestPostgresSearchAndMemory(t *testing.T) {
	t.Parallel()
	pgtest.Require(t)
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	require.NoError(t, server.MigratePostgres(ctx, url))
	a := start(t, server.Config{Postgres: url, Cache: authz.CacheConfig{Disabled: true}})

	srvB, err := server.Open(ctx, server.Config{
		DataDir: filepath.Join(t.TempDir(), "b"), Postgres: url, Cache: authz.CacheConfig{Disabled: true},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	require.NoError(t, err)
	ln, err := server.Listen("127.0.0.1:0")
	require.NoError(t, err)
	bctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srvB.Serve(bctx, ln) }()
	t.Cleanup(func() { cancel(); <-done; srvB.Close() })
	urlB := "http://" + ln.Addr().String()

	fs := nexusv1connect.NewFileServiceClient(http.DefaultClient, a.url, bearer(a.adminKey))
	_, err = fs.Write(ctx, connect.NewRequest(&nexusv1.WriteRequest{Path: "/notes/q3.md", CreateParents: true,
		Data: []byte("Quarterly revenue forecast\nTODO: check the exports\n")}))
	require.NoError(t, err)
	_, err = fs.Write(ctx, connect.NewRequest(&nexusv1.WriteRequest{Path: "/notes/other.md",
		Data: []byte("Weather forecast: rain\n")}))
	require.NoError(t, err)

	for _, u := range []string{a.url, urlB} {
		search := nexusv1connect.NewSearchServiceClient(http.DefaultClient, u, bearer(a.adminKey))
		res, err := search.Search(ctx, connect.NewRequest(&nexusv1.SearchRequest{Query: "revenue forecasts"}))
		require.NoError(t, err)
		require.Len(t, res.Msg.GetHits(), 2)
		hit := res.Msg.GetHits()[0]
		require.Equal(t, "/notes/q3.md", hit.GetEntry().GetPath())
		require.Equal(t, 1.0, hit.GetScore(), "scores are rank-derived")
		require.Equal(t, 0.5, res.Msg.GetHits()[1].GetScore())
		require.NotEmpty(t, hit.GetSnippet().GetHighlights())
		_, err = search.Search(ctx, connect.NewRequest(&nexusv1.SearchRequest{Query: "the"}))
		require.Equal(t, connect.CodeInvalidArgument, connect.CodeOf(err))
	}

	// A change is indexed again: the old words are gone.
	_, err = fs.Write(ctx, connect.NewRequest(&nexusv1.WriteRequest{Path: "/notes/q3.md", Data: []byte("nothing left\n")}))
	require.NoError(t, err)
	searchB := nexusv1connect.NewSearchServiceClient(http.DefaultClient, urlB, bearer(a.adminKey))
	res, err := searchB.Search(ctx, connect.NewRequest(&nexusv1.SearchRequest{Query: "revenue"}))
	require.NoError(t, err)
	require.Empty(t, res.Msg.GetHits())

	// Rewrites through both nodes, each node's indexer draining the one
	// queue as they come (and each search catching up): the index ends at
	// the last content.
	fsB := nexusv1connect.NewFileServiceClient(http.DefaultClient, urlB, bearer(a.adminKey))
	searchA := nexusv1connect.NewSearchServiceClient(http.DefaultClient, a.url, bearer(a.adminKey))
	words := []string{"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliett"}
	for i, w := range words {
		client, search := fs, searchB
		if i%2 == 1 {
			client, search = fsB, searchA
		}
		_, err = client.Write(ctx, connect.NewRequest(&nexusv1.WriteRequest{Path: "/notes/q3.md", Data: []byte(w + " version\n")}))
		require.NoError(t, err)
		_, err = search.Search(ctx, connect.NewRequest(&nexusv1.SearchRequest{Query: "version"}))
		require.NoError(t, err)
	}
	for _, search := range []nexusv1connect.SearchServiceClient{searchA, searchB} {
		for i, w := range words {
			res, err := search.Search(ctx, connect.NewRequest(&nexusv1.SearchRequest{Query: w}))
			require.NoError(t, err)
			if i == len(words)-1 {
				require.Len(t, res.Msg.GetHits(), 1, w)
			} else {
				require.Empty(t, res.Msg.GetHits(), w)
			}
		}
	}

	memA := nexusv1connect.NewMemoryServiceClient(http.DefaultClient, a.url, bearer(a.adminKey))
	rem, err := memA.Remember(ctx, connect.NewRequest(&nexusv1.RememberRequest{Text: "bob prefers CSV exports", Tags: []string{"prefs"}}))
	require.NoError(t, err)
	id := rem.Msg.GetMemory().GetId()
	memB := nexusv1connect.NewMemoryServiceClient(http.DefaultClient, urlB, bearer(a.adminKey))
	rec, err := memB.Recall(ctx, connect.NewRequest(&nexusv1.RecallRequest{Query: "export format", Tags: []string{"prefs"}}))
	require.NoError(t, err)
	require.Len(t, rec.Msg.GetMemories(), 1)
	require.Equal(t, id, rec.Msg.GetMemories()[0].GetMemory().GetId())
	_, err = memB.Forget(ctx, connect.NewRequest(&nexusv1.ForgetRequest{Id: id}))
	require.NoError(t, err)
	_, err = memA.Get(ctx, connect.NewRequest(&nexusv1.MemoryServiceGetRequest{Id: id}))
	require.Equal(t, connect.CodeNotFound, connect.CodeOf(err))
}
