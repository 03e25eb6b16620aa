package rpc

import (
	"context"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	nexusv1 "github.com/nexus-authz/nexus/api/nexus/v1"
	"github.com/nexus-authz/nexus/api/nexus/v1/nexusv1connect"
	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/errs"
	"github.com/nexus-authz/nexus/identity"
)

// IdentityHandler serves nexus.v1.IdentityService.
type IdentityHandler struct {
	svc   *identity.Service
	paths identity.PathObjects
}

var _ nexusv1connect.IdentityServiceHandler = (*IdentityHandler)(nil)

// NewIdentityHandler returns the IdentityService handler over svc; Check
// asks paths (the file plane; nil where paths are not served) about paths.
func NewIdentityHandler(svc *identity.Service, paths identity.PathObjects) *IdentityHandler {
	return &IdentityHandler{svc: svc, paths: paths}
}

func principal(ctx context.Context) (identity.Principal, error) {
	p, ok := PrincipalFrom(ctx)
	if !ok {
		return identity.Principal{}, errs.E(errs.Unauthenticated, "this call needs an API key")
	}
	return p, nil
}

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func zonePB(z identity.Zone) *nexusv1.Zone {
	return &nexusv1.Zone{Id: string(z.ID), Name: z.Name, CreatedAt: ts(z.CreatedAt)}
}

func userPB(u identity.User, zone string) *nexusv1.User {
	return &nexusv1.User{Id: string(u.ID), Name: u.Name, Zone: zone, CreatedAt: ts(u.CreatedAt)}
}

func groupPB(g identity.Group, zone string) *nexusv1.Group {
	return &nexusv1.Group{Id: string(g.ID), Name: g.Name, Zone: zone, CreatedAt: ts(g.CreatedAt)}
}

func keyPB(k identity.APIKey, user, zone string) *nexusv1.APIKey {
	return &nexusv1.APIKey{
		Id: string(k.ID), User: user, Zone: zone, Description: k.Description,
		CreatedAt: ts(k.CreatedAt), ExpiresAt: ts(k.ExpiresAt), RevokedAt: ts(k.RevokedAt),
		Scope: string(k.Scope),
	}
}

// ConsistencyFromPB turns the API's consistency into authz's.
func ConsistencyFromPB(c *nexusv1.Consistency) authz.Consistency {
	switch r := c.GetRequirement().(type) {
	case *nexusv1.Consistency_AtLeastAsFresh:
		return authz.AtLeastAsFresh(authz.Token(r.AtLeastAsFresh))
	case *nexusv1.Consistency_FullyConsistent:
		if r.FullyConsistent {
			return authz.FullyConsistent()
		}
	}
	return authz.MinimizeLatency()
}

func (h *IdentityHandler) WhoAmI(ctx context.Context, _ *connect.Request[nexusv1.WhoAmIRequest]) (*connect.Response[nexusv1.WhoAmIResponse], error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	admin, err := h.svc.IsZoneAdmin(ctx, p.Zone.ID, p.User.ID)
	if err != nil {
		return nil, err
	}
	op, err := h.svc.IsOperator(ctx, p)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&nexusv1.WhoAmIResponse{
		User: userPB(p.User, p.Zone.Name), KeyId: string(p.KeyID), ZoneAdmin: admin, Operator: op,
	}), nil
}

func (h *IdentityHandler) CreateZone(ctx context.Context, req *connect.Request[nexusv1.CreateZoneRequest]) (*connect.Response[nexusv1.CreateZoneResponse], error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	z, err := h.svc.CreateZone(ctx, p, req.Msg.GetName())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&nexusv1.CreateZoneResponse{Zone: zonePB(z)}), nil
}

func (h *IdentityHandler) ListZones(ctx context.Context, _ *connect.Request[nexusv1.ListZonesRequest]) (*connect.Response[nexusv1.ListZonesResponse], error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	zones, err := h.svc.ListZones(ctx, p)
	if err != nil {
		return nil, err
	}
	out := &nexusv1.ListZonesResponse{}
	for _, z := range zones {
		out.Zones = append(out.Zones, zonePB(z))
	}
	return connect.NewResponse(out), nil
}

func (h *IdentityHandler) zoneName(ctx context.Context, p identity.Principal, requested string) string {
	if requested == "" {
		return p.Zone.Name
	}
	return requested
}

func (h *IdentityHandler) CreateUser(ctx context.Context, req *connect.Request[nexusv1.CreateUserRequest]) (*connect.Response[nexusv1.CreateUserResponse], error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	var u identity.User
	var tok authz.Token
	if m := req.Msg; m.GetAgentOf() != "" {
		if m.GetZone() != "" || m.GetZoneAdmin() {
			return nil, errs.Invalid("agent_of", "an agent joins its owner's zone and administers nothing: leave zone and zone_admin unset")
		}
		u, tok, err = h.svc.CreateAgent(ctx, p, m.GetName(), m.GetAgentOf())
	} else {
		u, tok, err = h.svc.CreateUser(ctx, p, m.GetName(), m.GetZone(), m.GetZoneAdmin())
	}
	if err != nil {
		return nil, err
	}
	zone := h.zoneName(ctx, p, req.Msg.GetZone())
	if z, _, ok := strings.Cut(req.Msg.GetAgentOf(), "/"); ok {
		zone = z // an agent of zone/name joins that zone
	}
	return connect.NewResponse(&nexusv1.CreateUserResponse{
		User: userPB(u, zone), ConsistencyToken: string(tok),
	}), nil
}

func (h *IdentityHandler) ListUsers(ctx context.Context, req *connect.Request[nexusv1.ListUsersRequest]) (*connect.Response[nexusv1.ListUsersResponse], error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	users, err := h.svc.ListUsers(ctx, p, req.Msg.GetZone())
	if err != nil {
		return nil, err
	}
	out := &nexusv1.ListUsersResponse{}
	zone := h.zoneName(ctx, p, req.Msg.GetZone())
	var admins map[identity.UserID]bool
	var owners map[identity.UserID]identity.UserID
	if len(users) > 0 {
		if admins, owners, err = h.svc.UserRoles(ctx, users[0].Zone); err != nil {
			return nil, err
		}
	}
	names := make(map[identity.UserID]string, len(users))
	for _, u := range users {
		names[u.ID] = u.Name
	}
	for _, u := range users {
		pb := userPB(u, zone)
		pb.ZoneAdmin = admins[u.ID]
		if o, ok := owners[u.ID]; ok {
			pb.AgentOf = names[o]
		}
		out.Users = append(out.Users, pb)
	}
	return connect.NewResponse(out), nil
}

func (h *IdentityHandler) CreateGroup(ctx context.Context, req *connect.Request[nexusv1.CreateGroupRequest]) (*connect.Response[nexusv1.CreateGroupResponse], error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	g, tok, err := h.svc.CreateGroup(ctx, p, req.Msg.GetName(), req.Msg.GetZone())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&nexusv1.CreateGroupResponse{
		Group: groupPB(g, h.zoneName(ctx, p, req.Msg.GetZone())), ConsistencyToken: string(tok),
	}), nil
}

func (h *IdentityHandler) ListGroups(ctx context.Context, req *connect.Request[nexusv1.ListGroupsRequest]) (*connect.Response[nexusv1.ListGroupsResponse], error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	groups, err := h.svc.ListGroups(ctx, p, req.Msg.GetZone())
	if err != nil {
		return nil, err
	}
	out := &nexusv1.ListGroupsResponse{}
	zone := h.zoneName(ctx, p, req.Msg.GetZone())
	for _, g := range groups {
		out.Groups = append(out.Groups, groupPB(g, zone))
	}
	return connect.NewResponse(out), nil
}

func (h *IdentityHandler) AddGroupMember(ctx context.Context, req *connect.Request[nexusv1.AddGroupMemberRequest]) (*connect.Response[nexusv1.AddGroupMemberResponse], error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	tok, err := h.svc.AddGroupMember(ctx, p, req.Msg.GetGroup(), req.Msg.GetMember())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&nexusv1.AddGroupMemberResponse{ConsistencyToken: string(tok)}), nil
}

func (h *IdentityHandler) RemoveGroupMember(ctx context.Context, req *connect.Request[nexusv1.RemoveGroupMemberRequest]) (*connect.Response[nexusv1.RemoveGroupMemberResponse], error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	tok, err := h.svc.RemoveGroupMember(ctx, p, req.Msg.GetGroup(), req.Msg.GetMember())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&nexusv1.RemoveGroupMemberResponse{ConsistencyToken: string(tok)}), nil
}

func (h *IdentityHandler) ListGroupMembers(ctx context.Context, req *connect.Request[nexusv1.ListGroupMembersRequest]) (*connect.Response[nexusv1.ListGroupMembersResponse], error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	members, err := h.svc.ListGroupMembers(ctx, p, req.Msg.GetGroup())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&nexusv1.ListGroupMembersResponse{Members: members}), nil
}

func (h *IdentityHandler) CreateAPIKey(ctx context.Context, req *connect.Request[nexusv1.CreateAPIKeyRequest]) (*connect.Response[nexusv1.CreateAPIKeyResponse], error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	secs := req.Msg.GetExpiresInSeconds()
	if secs < 0 || secs > int64(identity.MaxKeyLifetime/time.Second) {
		return nil, errs.Invalid("expires_in_seconds", "must be between 0 (never) and %d", int64(identity.MaxKeyLifetime/time.Second))
	}
	scope, err := identity.ParseScope(req.Msg.GetScope())
	if err != nil {
		return nil, err
	}
	k, secret, err := h.svc.CreateScopedAPIKey(ctx, p, req.Msg.GetUser(), req.Msg.GetDescription(), time.Duration(secs)*time.Second, scope)
	if err != nil {
		return nil, err
	}
	owner, zone := p.User.Name, p.Zone.Name
	if req.Msg.GetUser() != "" {
		q, _ := identity.ParseQualified("user", req.Msg.GetUser())
		owner = q.Name
		if q.Zone != "" {
			zone = q.Zone
		}
	}
	return connect.NewResponse(&nexusv1.CreateAPIKeyResponse{Key: keyPB(k, owner, zone), Secret: secret}), nil
}

func (h *IdentityHandler) RevokeAPIKey(ctx context.Context, req *connect.Request[nexusv1.RevokeAPIKeyRequest]) (*connect.Response[nexusv1.RevokeAPIKeyResponse], error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	if err := h.svc.RevokeAPIKey(ctx, p, identity.KeyID(req.Msg.GetId())); err != nil {
		return nil, err
	}
	return connect.NewResponse(&nexusv1.RevokeAPIKeyResponse{}), nil
}

func (h *IdentityHandler) ListAPIKeys(ctx context.Context, req *connect.Request[nexusv1.ListAPIKeysRequest]) (*connect.Response[nexusv1.ListAPIKeysResponse], error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	keys, u, err := h.svc.ListAPIKeys(ctx, p, req.Msg.GetUser())
	if err != nil {
		return nil, err
	}
	zone := p.Zone.Name
	if q, _ := identity.ParseQualified("user", req.Msg.GetUser()); q.Zone != "" {
		zone = q.Zone
	}
	out := &nexusv1.ListAPIKeysResponse{}
	for _, k := range keys {
		out.Keys = append(out.Keys, keyPB(k, u.Name, zone))
	}
	return connect.NewResponse(out), nil
}

func (h *IdentityHandler) Check(ctx context.Context, req *connect.Request[nexusv1.CheckRequest]) (*connect.Response[nexusv1.CheckResponse], error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	d, err := h.svc.Check(ctx, p, h.paths, req.Msg.GetResource(), req.Msg.GetPermission(), req.Msg.GetSubject(), ConsistencyFromPB(req.Msg.GetConsistency()))
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&nexusv1.CheckResponse{Allowed: d.Allowed, CheckedAt: string(d.At)}), nil
}
