package rpc

import (
	"context"

	"connectrpc.com/connect"

	nexusv1 "github.com/nexus-authz/nexus/api/nexus/v1"
	"github.com/nexus-authz/nexus/api/nexus/v1/nexusv1connect"
	"github.com/nexus-authz/nexus/fileplane/access"
	"github.com/nexus-authz/nexus/fileplane/files"
	"github.com/nexus-authz/nexus/fileplane/search"
)

// SearchHandler serves nexus.v1.SearchService.
type SearchHandler struct {
	svc   *search.Service
	files *FilesHandler // renders entries
}

var _ nexusv1connect.SearchServiceHandler = (*SearchHandler)(nil)

// NewSearchHandler returns the SearchService handler.
func NewSearchHandler(svc *search.Service, files *FilesHandler) *SearchHandler {
	return &SearchHandler{svc: svc, files: files}
}

func snippetPB(s search.Snippet) *nexusv1.Snippet {
	out := &nexusv1.Snippet{Text: s.Text}
	for _, h := range s.Highlights {
		out.Highlights = append(out.Highlights, &nexusv1.Range{Start: int32(h.Start), End: int32(h.End)})
	}
	return out
}

func (h *SearchHandler) Search(ctx context.Context, req *connect.Request[nexusv1.SearchRequest]) (*connect.Response[nexusv1.SearchResponse], error) {
	c, p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	rs, next, err := h.svc.Search(ctx, access.Caller{User: c.User, Zone: c.Zone}, m.GetQuery(), int(m.GetPageSize()), m.GetPageToken(), ConsistencyFromPB(m.GetConsistency()))
	if err != nil {
		return nil, err
	}
	out := &nexusv1.SearchResponse{NextPageToken: next}
	for _, r := range rs {
		out.Hits = append(out.Hits, &nexusv1.SearchHit{
			Entry:   h.files.entryPB(ctx, p, files.Item{Path: r.Path, Entry: r.Entry}),
			Score:   r.Score,
			Snippet: snippetPB(r.Snippet),
		})
	}
	return connect.NewResponse(out), nil
}
