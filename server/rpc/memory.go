package rpc

import (
	"context"
	"time"

	"connectrpc.com/connect"

	nexusv1 "github.com/nexus-authz/nexus/api/nexus/v1"
	"github.com/nexus-authz/nexus/api/nexus/v1/nexusv1connect"
	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/fileplane/access"
	"github.com/nexus-authz/nexus/fileplane/memory"
	"github.com/nexus-authz/nexus/identity"
)

// MemoryHandler serves nexus.v1.MemoryService.
type MemoryHandler struct {
	svc *memory.Service
	ids *identity.Service
}

var _ nexusv1connect.MemoryServiceHandler = (*MemoryHandler)(nil)

// NewMemoryHandler returns the MemoryService handler.
func NewMemoryHandler(svc *memory.Service, ids *identity.Service) *MemoryHandler {
	return &MemoryHandler{svc: svc, ids: ids}
}

func memoryCaller(ctx context.Context) (access.Caller, identity.Principal, error) {
	p, err := principal(ctx)
	if err != nil {
		return access.Caller{}, p, err
	}
	return access.Caller{User: string(p.User.ID), Zone: string(p.Zone.ID)}, p, nil
}

var scopes = map[nexusv1.MemoryScope]memory.Scope{
	nexusv1.MemoryScope_MEMORY_SCOPE_UNSPECIFIED: memory.ScopeUser,
	nexusv1.MemoryScope_MEMORY_SCOPE_USER:        memory.ScopeUser,
	nexusv1.MemoryScope_MEMORY_SCOPE_AGENT:       memory.ScopeAgent,
	nexusv1.MemoryScope_MEMORY_SCOPE_ZONE:        memory.ScopeZone,
}

func (h *MemoryHandler) memoryPB(ctx context.Context, p identity.Principal, m memory.Memory) *nexusv1.Memory {
	out := &nexusv1.Memory{Id: string(m.ID), Text: m.Text, Tags: m.Tags, Metadata: m.Metadata, Importance: m.Importance,
		Owner: h.ids.UserName(ctx, p.Zone.ID, identity.UserID(m.Owner)), CreatedAt: ts(m.CreatedAt), ExpiresAt: ts(m.ExpiresAt)}
	for pb, s := range scopes {
		if s == m.Scope && pb != nexusv1.MemoryScope_MEMORY_SCOPE_UNSPECIFIED {
			out.Scope = pb
		}
	}
	return out
}

func (h *MemoryHandler) Remember(ctx context.Context, req *connect.Request[nexusv1.RememberRequest]) (*connect.Response[nexusv1.RememberResponse], error) {
	c, p, err := memoryCaller(ctx)
	if err != nil {
		return nil, err
	}
	msg := req.Msg
	scope, ok := scopes[msg.GetScope()]
	if !ok {
		return nil, errs.Invalid("scope", "%d is not a scope", msg.GetScope())
	}
	if msg.GetTtlSeconds() < 0 || msg.GetTtlSeconds() > int64(memory.MaxTTL/time.Second) {
		return nil, errs.Invalid("ttl_seconds", "%d is out of range; use 0 (never expires) to %d", msg.GetTtlSeconds(), int64(memory.MaxTTL/time.Second))
	}
	r := memory.RememberRequest{Text: msg.GetText(), Tags: msg.GetTags(), Metadata: msg.GetMetadata(), Scope: scope,
		TTL: time.Duration(msg.GetTtlSeconds()) * time.Second}
	if msg.Importance != nil {
		v := msg.GetImportance()
		r.Importance = &v
	}
	m, tok, err := h.svc.Remember(ctx, c, r)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&nexusv1.RememberResponse{Memory: h.memoryPB(ctx, p, m), ConsistencyToken: string(tok)}), nil
}

func (h *MemoryHandler) Recall(ctx context.Context, req *connect.Request[nexusv1.RecallRequest]) (*connect.Response[nexusv1.RecallResponse], error) {
	c, p, err := memoryCaller(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	rs, err := h.svc.Recall(ctx, c, m.GetQuery(), m.GetTags(), int(m.GetLimit()), ConsistencyFromPB(m.GetConsistency()))
	if err != nil {
		return nil, err
	}
	out := &nexusv1.RecallResponse{}
	for _, r := range rs {
		out.Memories = append(out.Memories, &nexusv1.RecalledMemory{Memory: h.memoryPB(ctx, p, r.Memory), Score: r.Score, Snippet: snippetPB(r.Snippet)})
	}
	return connect.NewResponse(out), nil
}

func (h *MemoryHandler) Get(ctx context.Context, req *connect.Request[nexusv1.MemoryServiceGetRequest]) (*connect.Response[nexusv1.MemoryServiceGetResponse], error) {
	c, p, err := memoryCaller(ctx)
	if err != nil {
		return nil, err
	}
	m, err := h.svc.Get(ctx, c, memory.ID(req.Msg.GetId()), ConsistencyFromPB(req.Msg.GetConsistency()))
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&nexusv1.MemoryServiceGetResponse{Memory: h.memoryPB(ctx, p, m)}), nil
}

func (h *MemoryHandler) Forget(ctx context.Context, req *connect.Request[nexusv1.ForgetRequest]) (*connect.Response[nexusv1.ForgetResponse], error) {
	c, _, err := memoryCaller(ctx)
	if err != nil {
		return nil, err
	}
	tok, err := h.svc.Forget(ctx, c, memory.ID(req.Msg.GetId()))
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&nexusv1.ForgetResponse{ConsistencyToken: string(tok)}), nil
}

func (h *MemoryHandler) List(ctx context.Context, req *connect.Request[nexusv1.MemoryServiceListRequest]) (*connect.Response[nexusv1.MemoryServiceListResponse], error) {
	c, p, err := memoryCaller(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	ms, next, err := h.svc.List(ctx, c, m.GetTags(), int(m.GetPageSize()), m.GetPageToken(), ConsistencyFromPB(m.GetConsistency()))
	if err != nil {
		return nil, err
	}
	out := &nexusv1.MemoryServiceListResponse{NextPageToken: next}
	for _, mm := range ms {
		out.Memories = append(out.Memories, h.memoryPB(ctx, p, mm))
	}
	return connect.NewResponse(out), nil
}
