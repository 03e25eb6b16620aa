package rpc

import (
	"context"

	"connectrpc.com/connect"

	nexusv1 "github.com/nexus-authz/nexus/api/nexus/v1"
	"github.com/nexus-authz/nexus/api/nexus/v1/nexusv1connect"
	"github.com/nexus-authz/nexus/fileplane/access"
	"github.com/nexus-authz/nexus/fileplane/files"
	"github.com/nexus-authz/nexus/fileplane/paths"
	"github.com/nexus-authz/nexus/fileplane/versions"
	"github.com/nexus-authz/nexus/identity"
)

// FilesHandler serves nexus.v1.FileService.
type FilesHandler struct {
	svc *files.Service
	ids *identity.Service
}

var _ nexusv1connect.FileServiceHandler = (*FilesHandler)(nil)

// NewFilesHandler returns the FileService handler.
func NewFilesHandler(svc *files.Service, ids *identity.Service) *FilesHandler {
	return &FilesHandler{svc: svc, ids: ids}
}

func caller(ctx context.Context) (access.Caller, identity.Principal, error) {
	p, err := principal(ctx)
	if err != nil {
		return access.Caller{}, p, err
	}
	return access.Caller{User: string(p.User.ID), Zone: string(p.Zone.ID)}, p, nil
}

func (h *FilesHandler) name(ctx context.Context, p identity.Principal, id string) string {
	if id == "" || id == "system" {
		return id
	}
	return h.ids.UserName(ctx, p.Zone.ID, identity.UserID(id))
}

func (h *FilesHandler) entryPB(ctx context.Context, p identity.Principal, it files.Item) *nexusv1.Entry {
	e := it.Entry
	kind := nexusv1.EntryKind_ENTRY_KIND_FILE
	if e.Kind == paths.Folder {
		kind = nexusv1.EntryKind_ENTRY_KIND_FOLDER
	}
	name := e.Name
	if e.IsRoot() {
		name = "/"
	}
	return &nexusv1.Entry{
		Id: string(e.ID), Path: string(it.Path), Name: name, Kind: kind, Size: e.Size, ContentHash: e.ContentHash,
		Version: e.Version, MediaType: e.MediaType,
		CreatedBy: h.name(ctx, p, e.CreatedBy), CreatedAt: ts(e.CreatedAt),
		ModifiedBy: h.name(ctx, p, e.ModifiedBy), ModifiedAt: ts(e.ModifiedAt),
	}
}

func permissionsPB(p files.Permissions) *nexusv1.EntryPermissions {
	return &nexusv1.EntryPermissions{Write: p.Write, Share: p.Share}
}

func (h *FilesHandler) Stat(ctx context.Context, req *connect.Request[nexusv1.StatRequest]) (*connect.Response[nexusv1.StatResponse], error) {
	c, p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	it, err := h.svc.Stat(ctx, c, req.Msg.GetPath(), ConsistencyFromPB(req.Msg.GetConsistency()))
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&nexusv1.StatResponse{Entry: h.entryPB(ctx, p, it)}), nil
}

func (h *FilesHandler) List(ctx context.Context, req *connect.Request[nexusv1.ListRequest]) (*connect.Response[nexusv1.ListResponse], error) {
	c, p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	path, size, token, cons := req.Msg.GetPath(), int(req.Msg.GetPageSize()), req.Msg.GetPageToken(), ConsistencyFromPB(req.Msg.GetConsistency())
	var (
		items  []files.Item
		next   string
		folder files.Permissions
		each   []files.Permissions
	)
	if req.Msg.GetWithPermissions() {
		items, next, folder, each, err = h.svc.ListWithPermissions(ctx, c, path, size, token, cons)
	} else {
		items, next, err = h.svc.List(ctx, c, path, size, token, cons)
	}
	if err != nil {
		return nil, err
	}
	out := &nexusv1.ListResponse{NextPageToken: next, Entries: make([]*nexusv1.Entry, len(items))}
	for i, it := range items {
		out.Entries[i] = h.entryPB(ctx, p, it)
		if each != nil {
			out.Entries[i].Permissions = permissionsPB(each[i])
		}
	}
	if req.Msg.GetWithPermissions() {
		out.Permissions = permissionsPB(folder)
	}
	return connect.NewResponse(out), nil
}

func (h *FilesHandler) Read(ctx context.Context, req *connect.Request[nexusv1.ReadRequest]) (*connect.Response[nexusv1.ReadResponse], error) {
	c, p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	r, err := h.svc.Read(ctx, c, m.GetPath(), m.GetOffset(), m.GetLength(), m.GetVersion(), ConsistencyFromPB(m.GetConsistency()))
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&nexusv1.ReadResponse{Entry: h.entryPB(ctx, p, r.Item), Data: r.Data, Offset: r.Offset, Eof: r.EOF}), nil
}

func (h *FilesHandler) Write(ctx context.Context, req *connect.Request[nexusv1.WriteRequest]) (*connect.Response[nexusv1.WriteResponse], error) {
	c, p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	it, tok, err := h.svc.Write(ctx, c, m.GetPath(), m.GetData(), files.WriteOptions{
		ExpectedVersion: m.GetExpectedVersion(), CreateParents: m.GetCreateParents(), MediaType: m.GetMediaType(),
	})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&nexusv1.WriteResponse{Entry: h.entryPB(ctx, p, it), ConsistencyToken: string(tok)}), nil
}

func (h *FilesHandler) Mkdir(ctx context.Context, req *connect.Request[nexusv1.MkdirRequest]) (*connect.Response[nexusv1.MkdirResponse], error) {
	c, p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	it, tok, err := h.svc.Mkdir(ctx, c, req.Msg.GetPath(), req.Msg.GetParents())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&nexusv1.MkdirResponse{Entry: h.entryPB(ctx, p, it), ConsistencyToken: string(tok)}), nil
}

func (h *FilesHandler) Delete(ctx context.Context, req *connect.Request[nexusv1.DeleteRequest]) (*connect.Response[nexusv1.DeleteResponse], error) {
	c, _, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	tok, err := h.svc.Delete(ctx, c, req.Msg.GetPath(), req.Msg.GetRecursive())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&nexusv1.DeleteResponse{ConsistencyToken: string(tok)}), nil
}

func (h *FilesHandler) Move(ctx context.Context, req *connect.Request[nexusv1.MoveRequest]) (*connect.Response[nexusv1.MoveResponse], error) {
	c, p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	it, tok, err := h.svc.Move(ctx, c, req.Msg.GetSource(), req.Msg.GetDestination())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&nexusv1.MoveResponse{Entry: h.entryPB(ctx, p, it), ConsistencyToken: string(tok)}), nil
}

func (h *FilesHandler) Copy(ctx context.Context, req *connect.Request[nexusv1.CopyRequest]) (*connect.Response[nexusv1.CopyResponse], error) {
	c, p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	it, tok, err := h.svc.Copy(ctx, c, req.Msg.GetSource(), req.Msg.GetDestination())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&nexusv1.CopyResponse{Entry: h.entryPB(ctx, p, it), ConsistencyToken: string(tok)}), nil
}

func (h *FilesHandler) versionPB(ctx context.Context, p identity.Principal, v versions.Version) *nexusv1.Version {
	return &nexusv1.Version{Version: v.Number, Size: v.Size, ContentHash: v.ContentHash, MediaType: v.MediaType,
		CreatedBy: h.name(ctx, p, v.CreatedBy), CreatedAt: ts(v.CreatedAt)}
}

func (h *FilesHandler) ListVersions(ctx context.Context, req *connect.Request[nexusv1.ListVersionsRequest]) (*connect.Response[nexusv1.ListVersionsResponse], error) {
	c, p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	vs, err := h.svc.ListVersions(ctx, c, req.Msg.GetPath(), ConsistencyFromPB(req.Msg.GetConsistency()))
	if err != nil {
		return nil, err
	}
	out := &nexusv1.ListVersionsResponse{}
	for _, v := range vs {
		out.Versions = append(out.Versions, h.versionPB(ctx, p, v))
	}
	return connect.NewResponse(out), nil
}

func (h *FilesHandler) RestoreVersion(ctx context.Context, req *connect.Request[nexusv1.RestoreVersionRequest]) (*connect.Response[nexusv1.RestoreVersionResponse], error) {
	c, p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	it, err := h.svc.RestoreVersion(ctx, c, req.Msg.GetPath(), req.Msg.GetVersion())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&nexusv1.RestoreVersionResponse{Entry: h.entryPB(ctx, p, it)}), nil
}

func (h *FilesHandler) BeginUpload(ctx context.Context, req *connect.Request[nexusv1.BeginUploadRequest]) (*connect.Response[nexusv1.BeginUploadResponse], error) {
	c, _, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	u, err := h.svc.BeginUpload(ctx, c, m.GetPath(), m.GetSize(), files.WriteOptions{
		ExpectedVersion: m.GetExpectedVersion(), CreateParents: m.GetCreateParents(), MediaType: m.GetMediaType(),
	})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&nexusv1.BeginUploadResponse{UploadId: u.ID, MaxChunkBytes: h.svc.Limits().MaxUnaryBytes, ExpiresAt: ts(u.ExpiresAt)}), nil
}

func (h *FilesHandler) AppendUpload(ctx context.Context, req *connect.Request[nexusv1.AppendUploadRequest]) (*connect.Response[nexusv1.AppendUploadResponse], error) {
	c, _, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	n, err := h.svc.AppendUpload(ctx, c, req.Msg.GetUploadId(), req.Msg.GetOffset(), req.Msg.GetData())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&nexusv1.AppendUploadResponse{Received: n}), nil
}

func (h *FilesHandler) CommitUpload(ctx context.Context, req *connect.Request[nexusv1.CommitUploadRequest]) (*connect.Response[nexusv1.CommitUploadResponse], error) {
	c, p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	it, tok, err := h.svc.CommitUpload(ctx, c, req.Msg.GetUploadId())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&nexusv1.CommitUploadResponse{Entry: h.entryPB(ctx, p, it), ConsistencyToken: string(tok)}), nil
}
