package rpc

import (
	"context"

	"connectrpc.com/connect"

	nexusv1 "github.com/nexus-authz/nexus/api/nexus/v1"
	"github.com/nexus-authz/nexus/fileplane/files"
)

func (h *FilesHandler) Glob(ctx context.Context, req *connect.Request[nexusv1.GlobRequest]) (*connect.Response[nexusv1.GlobResponse], error) {
	c, p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	items, next, err := h.svc.Glob(ctx, c, m.GetPattern(), int(m.GetPageSize()), m.GetPageToken(), ConsistencyFromPB(m.GetConsistency()))
	if err != nil {
		return nil, err
	}
	out := &nexusv1.GlobResponse{NextPageToken: next, Entries: make([]*nexusv1.Entry, len(items))}
	for i, it := range items {
		out.Entries[i] = h.entryPB(ctx, p, it)
	}
	return connect.NewResponse(out), nil
}

func (h *FilesHandler) Grep(ctx context.Context, req *connect.Request[nexusv1.GrepRequest]) (*connect.Response[nexusv1.GrepResponse], error) {
	c, _, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	res, err := h.svc.Grep(ctx, c, files.GrepOptions{
		Pattern: m.GetPattern(), Path: m.GetPath(), CaseInsensitive: m.GetCaseInsensitive(),
		ContextLines: int(m.GetContextLines()), MaxMatches: int(m.GetMaxMatches()), PageToken: m.GetPageToken(),
	}, ConsistencyFromPB(m.GetConsistency()))
	if err != nil {
		return nil, err
	}
	out := &nexusv1.GrepResponse{Partial: res.Partial, StoppedBy: res.StoppedBy, FilesScanned: res.FilesScanned,
		BytesScanned: res.BytesScanned, NextPageToken: res.NextPageToken}
	for _, mt := range res.Matches {
		pm := &nexusv1.GrepMatch{Path: string(mt.Path), LineNumber: mt.Line, Line: mt.Text, Before: mt.Before, After: mt.After}
		for _, r := range mt.Ranges {
			pm.Ranges = append(pm.Ranges, &nexusv1.Range{Start: int32(r[0]), End: int32(r[1])})
		}
		out.Matches = append(out.Matches, pm)
	}
	return connect.NewResponse(out), nil
}
