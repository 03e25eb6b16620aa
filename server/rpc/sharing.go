package rpc

import (
	"context"
	"net/http"
	"net/netip"

	"connectrpc.com/connect"

	nexusv1 "github.com/nexus-authz/nexus/api/nexus/v1"
	"github.com/nexus-authz/nexus/api/nexus/v1/nexusv1connect"
	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/fileplane/access"
	"github.com/nexus-authz/nexus/fileplane/sharing"
	"github.com/nexus-authz/nexus/identity"
)

// SharingHandler serves nexus.v1.ShareService.
type SharingHandler struct {
	svc     *sharing.Service
	ids     *identity.Service
	files   *FilesHandler  // renders entries
	trusted []netip.Prefix // proxies whose X-Forwarded-For is believed
}

var _ nexusv1connect.ShareServiceHandler = (*SharingHandler)(nil)

// NewSharingHandler returns the ShareService handler.
// trusted are the proxies (load balancers) whose X-Forwarded-For names the
// client, for the limits and the access log of share links.
func NewSharingHandler(svc *sharing.Service, ids *identity.Service, fh *FilesHandler, trusted []netip.Prefix) *SharingHandler {
	return &SharingHandler{svc: svc, ids: ids, files: fh, trusted: trusted}
}

// AnonymousSharingProcedures are the procedures that take no API key: a
// link's token is their credential.
var AnonymousSharingProcedures = []string{
	nexusv1connect.ShareServiceOpenLinkProcedure,
	nexusv1connect.ShareServiceWriteLinkProcedure,
}

var rolePB = map[sharing.Role]nexusv1.Role{
	sharing.Viewer: nexusv1.Role_ROLE_VIEWER,
	sharing.Editor: nexusv1.Role_ROLE_EDITOR,
	sharing.Owner:  nexusv1.Role_ROLE_OWNER,
}

// roleOf turns the API's role into sharing's; unspecified is "" (which
// sharing refuses where a role is required).
func roleOf(r nexusv1.Role) (sharing.Role, error) {
	if r == nexusv1.Role_ROLE_UNSPECIFIED {
		return "", nil
	}
	for role, pb := range rolePB {
		if pb == r {
			return role, nil
		}
	}
	return "", errs.Invalid("role", "%d is not a role; use ROLE_VIEWER, ROLE_EDITOR or ROLE_OWNER", r)
}

func (h *SharingHandler) Grant(ctx context.Context, req *connect.Request[nexusv1.GrantRequest]) (*connect.Response[nexusv1.GrantResponse], error) {
	tok, err := h.changeGrant(ctx, req.Msg.GetPath(), req.Msg.GetSubject(), req.Msg.GetRole(), h.svc.Grant)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&nexusv1.GrantResponse{ConsistencyToken: string(tok)}), nil
}

func (h *SharingHandler) Revoke(ctx context.Context, req *connect.Request[nexusv1.RevokeRequest]) (*connect.Response[nexusv1.RevokeResponse], error) {
	tok, err := h.changeGrant(ctx, req.Msg.GetPath(), req.Msg.GetSubject(), req.Msg.GetRole(), h.svc.Revoke)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&nexusv1.RevokeResponse{ConsistencyToken: string(tok)}), nil
}

// changeGrant runs Grant or Revoke as the caller with the API's role.
func (h *SharingHandler) changeGrant(ctx context.Context, path, subject string, r nexusv1.Role,
	change func(context.Context, access.Caller, string, string, sharing.Role) (authz.Token, error)) (authz.Token, error) {
	c, _, err := caller(ctx)
	if err != nil {
		return "", err
	}
	role, err := roleOf(r)
	if err != nil {
		return "", err
	}
	return change(ctx, c, path, subject, role)
}

func (h *SharingHandler) ListGrants(ctx context.Context, req *connect.Request[nexusv1.ListGrantsRequest]) (*connect.Response[nexusv1.ListGrantsResponse], error) {
	c, _, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	grants, access, err := h.svc.ListGrants(ctx, c, req.Msg.GetPath(), ConsistencyFromPB(req.Msg.GetConsistency()))
	if err != nil {
		return nil, err
	}
	out := &nexusv1.ListGrantsResponse{}
	for _, g := range grants {
		out.Grants = append(out.Grants, &nexusv1.Grant{Subject: g.Name, Role: rolePB[g.Role], Path: string(g.Path), Inherited: g.Inherited})
	}
	for _, a := range access {
		out.Access = append(out.Access, &nexusv1.Access{User: a.Name, Permission: a.Permission, Reasons: a.Reasons})
	}
	return connect.NewResponse(out), nil
}

func (h *SharingHandler) SharedWithMe(ctx context.Context, req *connect.Request[nexusv1.SharedWithMeRequest]) (*connect.Response[nexusv1.SharedWithMeResponse], error) {
	c, p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	shared, next, err := h.svc.SharedWithMe(ctx, c, int(m.GetPageSize()), m.GetPageToken(), ConsistencyFromPB(m.GetConsistency()))
	if err != nil {
		return nil, err
	}
	out := &nexusv1.SharedWithMeResponse{NextPageToken: next}
	for _, s := range shared {
		out.Entries = append(out.Entries, &nexusv1.SharedEntry{
			Zone: h.ids.ZoneName(ctx, identity.ZoneID(s.Zone)), Entry: h.files.entryPB(ctx, p, s.Item),
			Role: rolePB[s.Role], Via: s.Via,
		})
	}
	return connect.NewResponse(out), nil
}

func (h *SharingHandler) linkPB(ctx context.Context, p identity.Principal, l sharing.Link) *nexusv1.Link {
	return &nexusv1.Link{
		Id: string(l.ID), Path: string(h.svc.LinkPath(ctx, l)), Role: rolePB[l.Role],
		CreatedBy: h.files.name(ctx, p, l.CreatedBy), CreatedAt: ts(l.CreatedAt), ExpiresAt: ts(l.ExpiresAt),
		HasPassword: l.PasswordHash != "", MaxUses: l.MaxUses, Uses: l.Uses, RevokedAt: ts(l.RevokedAt),
	}
}

func (h *SharingHandler) CreateLink(ctx context.Context, req *connect.Request[nexusv1.CreateLinkRequest]) (*connect.Response[nexusv1.CreateLinkResponse], error) {
	c, p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	role, err := roleOf(m.GetRole())
	if err != nil {
		return nil, err
	}
	o := sharing.LinkOptions{Role: role, Password: m.GetPassword(), MaxUses: m.GetMaxUses()}
	if m.GetExpiresIn() != nil {
		if err := m.GetExpiresIn().CheckValid(); err != nil {
			return nil, errs.Invalid("expires_in", "%v", err)
		}
		o.ExpiresIn = m.GetExpiresIn().AsDuration()
	}
	l, tok, ct, err := h.svc.CreateLink(ctx, c, m.GetPath(), o)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&nexusv1.CreateLinkResponse{Link: h.linkPB(ctx, p, l), Token: tok, ConsistencyToken: string(ct)}), nil
}

func (h *SharingHandler) RevokeLink(ctx context.Context, req *connect.Request[nexusv1.RevokeLinkRequest]) (*connect.Response[nexusv1.RevokeLinkResponse], error) {
	c, _, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	tok, err := h.svc.RevokeLink(ctx, c, req.Msg.GetLink())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&nexusv1.RevokeLinkResponse{ConsistencyToken: string(tok)}), nil
}

func (h *SharingHandler) ListLinks(ctx context.Context, req *connect.Request[nexusv1.ListLinksRequest]) (*connect.Response[nexusv1.ListLinksResponse], error) {
	c, p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	ls, _, err := h.svc.ListLinks(ctx, c, req.Msg.GetPath())
	if err != nil {
		return nil, err
	}
	out := &nexusv1.ListLinksResponse{}
	for _, l := range ls {
		out.Links = append(out.Links, h.linkPB(ctx, p, l))
	}
	return connect.NewResponse(out), nil
}

func (h *SharingHandler) LinkAccessLog(ctx context.Context, req *connect.Request[nexusv1.LinkAccessLogRequest]) (*connect.Response[nexusv1.LinkAccessLogResponse], error) {
	c, _, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	log, err := h.svc.LinkAccessLog(ctx, c, req.Msg.GetLink(), int(req.Msg.GetLimit()))
	if err != nil {
		return nil, err
	}
	out := &nexusv1.LinkAccessLogResponse{}
	for _, a := range log {
		out.Entries = append(out.Entries, &nexusv1.LinkAccess{At: ts(a.At), RemoteAddr: a.Addr, UserAgent: a.UserAgent,
			Outcome: string(a.Outcome), Action: a.Action})
	}
	return connect.NewResponse(out), nil
}

// client is what a request says of its sender: its address (see
// clientAddr) and its user agent.
func (h *SharingHandler) client(peer connect.Peer, hd http.Header) sharing.Client {
	ua := hd.Get("User-Agent")
	if len(ua) > 256 {
		ua = ua[:256]
	}
	return sharing.Client{Addr: clientAddr(peer.Addr, hd.Values("X-Forwarded-For"), h.trusted), UserAgent: ua}
}

// linkPrincipal renders entries opened through a link relative to the
// link's zone.
func linkPrincipal(l sharing.Link) identity.Principal {
	return identity.Principal{Zone: identity.Zone{ID: identity.ZoneID(l.Zone)}}
}

func (h *SharingHandler) OpenLink(ctx context.Context, req *connect.Request[nexusv1.OpenLinkRequest]) (*connect.Response[nexusv1.OpenLinkResponse], error) {
	m := req.Msg
	o, err := h.svc.OpenLink(ctx, h.client(req.Peer(), req.Header()), m.GetToken(), m.GetPassword(), m.GetSubPath(),
		int(m.GetPageSize()), m.GetPageToken())
	if err != nil {
		return nil, err
	}
	p := linkPrincipal(o.Link)
	out := &nexusv1.OpenLinkResponse{Entry: h.files.entryPB(ctx, p, o.Item), Data: o.Data, NextPageToken: o.Next, Role: rolePB[o.Link.Role]}
	for _, k := range o.Children {
		out.Children = append(out.Children, h.files.entryPB(ctx, p, k))
	}
	return connect.NewResponse(out), nil
}

func (h *SharingHandler) WriteLink(ctx context.Context, req *connect.Request[nexusv1.WriteLinkRequest]) (*connect.Response[nexusv1.WriteLinkResponse], error) {
	m := req.Msg
	it, err := h.svc.WriteLink(ctx, h.client(req.Peer(), req.Header()), m.GetToken(), m.GetPassword(), m.GetSubPath(),
		m.GetData(), m.GetExpectedVersion())
	if err != nil {
		return nil, err
	}
	// Entries written through a link are rendered in the link's zone; the
	// item carries it.
	p := identity.Principal{Zone: identity.Zone{ID: identity.ZoneID(it.Entry.Zone)}}
	return connect.NewResponse(&nexusv1.WriteLinkResponse{Entry: h.files.entryPB(ctx, p, it)}), nil
}
