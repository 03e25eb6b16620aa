package server_test

import (
	"context"
	"net/http"
	"testing"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"

	nexusv1 "github.com/nexus-authz/nexus/api/nexus/v1"
	"github.com/nexus-authz/nexus/api/nexus/v1/nexusv1connect"
	"github.com/nexus-authz/nexus/server"
)

// Glob, Grep, Search and memory end to end, over each protocol, plus a
// plain JSON POST; bad input comes back as InvalidArgument with its reason.
func TestSearchAndMemoryAcrossProtocols(t *testing.T) {
	t.Parallel()
	r := start(t, server.Config{})
	ctx := context.Background()
	fs := nexusv1connect.NewFileServiceClient(http.DefaultClient, r.url, bearer(r.adminKey))
	_, err := fs.Write(ctx, connect.NewRequest(&nexusv1.WriteRequest{Path: "/notes/q3.md", CreateParents: true,
		Data: []byte("Quarterly revenue forecast\nTODO: check numbers\n")}))
	require.NoError(t, err)
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			opts := append(p.opts, bearer(r.adminKey))
			files := nexusv1connect.NewFileServiceClient(p.client(), r.url, opts...)
			glob, err := files.Glob(ctx, connect.NewRequest(&nexusv1.GlobRequest{Pattern: "/**/*.md"}))
			require.NoError(t, err)
			require.Len(t, glob.Msg.GetEntries(), 1)
			require.Equal(t, "/notes/q3.md", glob.Msg.GetEntries()[0].GetPath())

			grep, err := files.Grep(ctx, connect.NewRequest(&nexusv1.GrepRequest{Pattern: "todo", CaseInsensitive: true}))
			require.NoError(t, err)
			require.Len(t, grep.Msg.GetMatches(), 1)
			require.EqualValues(t, 2, grep.Msg.GetMatches()[0].GetLineNumber())
			_, err = files.Grep(ctx, connect.NewRequest(&nexusv1.GrepRequest{Pattern: "a[b"}))
			require.Equal(t, connect.CodeInvalidArgument, connect.CodeOf(err))
			require.Contains(t, err.Error(), "at byte 1")

			search := nexusv1connect.NewSearchServiceClient(p.client(), r.url, opts...)
			res, err := search.Search(ctx, connect.NewRequest(&nexusv1.SearchRequest{Query: "revenue forecast"}))
			require.NoError(t, err)
			require.Len(t, res.Msg.GetHits(), 1)
			hit := res.Msg.GetHits()[0]
			require.Equal(t, "/notes/q3.md", hit.GetEntry().GetPath())
			require.NotEmpty(t, hit.GetSnippet().GetHighlights())
			_, err = search.Search(ctx, connect.NewRequest(&nexusv1.SearchRequest{Query: "the"}))
			require.Equal(t, connect.CodeInvalidArgument, connect.CodeOf(err))

			mem := nexusv1connect.NewMemoryServiceClient(p.client(), r.url, opts...)
			rem, err := mem.Remember(ctx, connect.NewRequest(&nexusv1.RememberRequest{Text: "bob prefers CSV exports " + p.name, Tags: []string{"prefs"}}))
			require.NoError(t, err)
			id := rem.Msg.GetMemory().GetId()
			rec, err := mem.Recall(ctx, connect.NewRequest(&nexusv1.RecallRequest{Query: "export format " + p.name, Tags: []string{"prefs"}}))
			require.NoError(t, err)
			require.NotEmpty(t, rec.Msg.GetMemories())
			require.Equal(t, id, rec.Msg.GetMemories()[0].GetMemory().GetId())
			_, err = mem.Forget(ctx, connect.NewRequest(&nexusv1.ForgetRequest{Id: id}))
			require.NoError(t, err)
			_, err = mem.Get(ctx, connect.NewRequest(&nexusv1.MemoryServiceGetRequest{Id: id}))
			require.Equal(t, connect.CodeNotFound, connect.CodeOf(err))
		})
	}
	code, body := post(t, r.url+"/nexus.v1.SearchService/Search", r.adminKey, `{"query":"forecast"}`)
	require.Equal(t, http.StatusOK, code, "%v", body)
	require.Len(t, body["hits"], 1)
}
