package mcp

import (
	"context"
	"fmt"
	"time"

	"connectrpc.com/connect"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"google.golang.org/protobuf/types/known/durationpb"

	nexusv1 "github.com/nexus-authz/nexus/api/nexus/v1"
)

type grantIn struct {
	Path    string `json:"path" jsonschema:"absolute path of the file or folder"`
	Subject string `json:"subject" jsonschema:"user:NAME or group:NAME (user:ZONE/NAME for another zone's)"`
	Role    string `json:"role" jsonschema:"viewer (read), editor (read and write) or owner (everything, sharing too)"`
}

type pathOnlyIn struct {
	Path string `json:"path" jsonschema:"absolute path of the file or folder"`
}

// Grant is a role given on an entry or a folder above it.
type Grant struct {
	Subject   string `json:"subject"`
	Role      string `json:"role"`
	Path      string `json:"path" jsonschema:"where the role is given"`
	Inherited bool   `json:"inherited" jsonschema:"true when given on a folder above"`
}

// Access is a user who may read the entry, and why.
type Access struct {
	User       string   `json:"user"`
	Permission string   `json:"permission" jsonschema:"the strongest of read, write and admin"`
	Reasons    []string `json:"reasons"`
}

// Grants say who has access to an entry and why.
type Grants struct {
	Grants []Grant  `json:"grants"`
	Access []Access `json:"access"`
}

type linkIn struct {
	Path            string `json:"path" jsonschema:"absolute path of the file or folder"`
	Role            string `json:"role,omitempty" jsonschema:"viewer (default) or editor"`
	ExpiresInSecond int64  `json:"expires_in_seconds,omitempty" jsonschema:"the link stops working after this many seconds (default: never)"`
	Password        string `json:"password,omitempty" jsonschema:"opening the link then asks for it"`
	MaxUses         int64  `json:"max_uses,omitempty" jsonschema:"how many opens the link allows (default: unlimited)"`
}

// Link is a new share link; its token is shown once.
type Link struct {
	ID        string `json:"id"`
	Token     string `json:"token" jsonschema:"the bearer token: anyone with it may open the entry; shown once"`
	Role      string `json:"role"`
	ExpiresAt string `json:"expires_at,omitempty"`
}

type sharedIn struct {
	PageSize  int    `json:"page_size,omitempty" jsonschema:"entries per page, 1-200 (default 50)"`
	PageToken string `json:"page_token,omitempty" jsonschema:"next_page_token of the previous page"`
}

// Shared is an entry granted to the caller or to one of its groups.
type Shared struct {
	Zone  string `json:"zone"`
	Entry Entry  `json:"entry"`
	Role  string `json:"role"`
	Via   string `json:"via" jsonschema:"who the grant names: you, or a group of yours"`
}

// SharedPage is a page of what is shared with the caller.
type SharedPage struct {
	Entries       []Shared `json:"entries"`
	NextPageToken string   `json:"next_page_token,omitempty"`
}

type checkIn struct {
	Resource         string `json:"resource" jsonschema:"a path of your zone (/docs/a.txt), zone:NAME or group:NAME"`
	Permission       string `json:"permission" jsonschema:"read, write, share, delete or admin on a path; manage or access on a zone; membership on a group"`
	Subject          string `json:"subject,omitempty" jsonschema:"user:NAME or group:NAME (default: you)"`
	ConsistencyToken string `json:"consistency_token,omitempty" jsonschema:"a consistency_token from an earlier write, to see at least that write"`
}

// Decision is a permission check's answer.
type Decision struct {
	Allowed bool `json:"allowed"`
}

// Identity is who the key acts as.
type Identity struct {
	User      string `json:"user"`
	Zone      string `json:"zone"`
	ZoneAdmin bool   `json:"zone_admin"`
	KeyID     string `json:"key_id"`
}

var roles = map[string]nexusv1.Role{
	"viewer": nexusv1.Role_ROLE_VIEWER, "editor": nexusv1.Role_ROLE_EDITOR, "owner": nexusv1.Role_ROLE_OWNER,
}

func roleName(r nexusv1.Role) string {
	for n, v := range roles {
		if v == r {
			return n
		}
	}
	return "none"
}

func parseRole(r string, allowed ...string) (nexusv1.Role, error) {
	for _, a := range allowed {
		if a == r {
			return roles[r], nil
		}
	}
	return 0, fmt.Errorf("role %s is unknown: give %v", quote(r), allowed)
}

func (s *Server) addShareTools() {
	change := func(revoke bool) sdk.ToolHandlerFor[grantIn, Token] {
		return func(ctx context.Context, _ *sdk.CallToolRequest, in grantIn) (*sdk.CallToolResult, Token, error) {
			if err := checkPath("path", in.Path); err != nil {
				return nil, Token{}, err
			}
			role, err := parseRole(in.Role, "viewer", "editor", "owner")
			if err != nil {
				return nil, Token{}, err
			}
			var tok string
			if revoke {
				r, err := s.b.Share.Revoke(ctx, connect.NewRequest(&nexusv1.RevokeRequest{Path: in.Path, Subject: in.Subject, Role: role}))
				if err != nil {
					return nil, Token{}, toolError(in.Path, err)
				}
				tok = r.Msg.GetConsistencyToken()
			} else {
				r, err := s.b.Share.Grant(ctx, connect.NewRequest(&nexusv1.GrantRequest{Path: in.Path, Subject: in.Subject, Role: role}))
				if err != nil {
					return nil, Token{}, toolError(in.Path, err)
				}
				tok = r.Msg.GetConsistencyToken()
			}
			return nil, Token{ConsistencyToken: tok}, nil
		}
	}
	addTool(s, &sdk.Tool{Name: "share_grant", Annotations: additive("Share an entry", true),
		Description: "Give a user or a group a role on a file or folder (on a folder, everything below it). Takes the share " +
			"permission: an owner of the entry or a folder above it, or a zone admin."}, change(false))
	addTool(s, &sdk.Tool{Name: "share_revoke", Annotations: destructive("Take a role back"),
		Description: "Take back a role given on a file or folder (where it was given: see share_list). In force at once."}, change(true))
	addTool(s, &sdk.Tool{Name: "share_list", Annotations: readOnly("Who has access"),
		Description: "Say who has access to a file or folder and why: the grants on it and above it, and every user who may read it."},
		func(ctx context.Context, _ *sdk.CallToolRequest, in pathOnlyIn) (*sdk.CallToolResult, Grants, error) {
			if err := checkPath("path", in.Path); err != nil {
				return nil, Grants{}, err
			}
			r, err := s.b.Share.ListGrants(ctx, connect.NewRequest(&nexusv1.ListGrantsRequest{Path: in.Path}))
			if err != nil {
				return nil, Grants{}, toolError(in.Path, err)
			}
			out := Grants{Grants: []Grant{}, Access: []Access{}}
			for _, g := range r.Msg.GetGrants() {
				out.Grants = append(out.Grants, Grant{Subject: g.GetSubject(), Role: roleName(g.GetRole()), Path: g.GetPath(), Inherited: g.GetInherited()})
			}
			for _, a := range r.Msg.GetAccess()[:min(len(r.Msg.GetAccess()), maxPage)] {
				out.Access = append(out.Access, Access{User: a.GetUser(), Permission: a.GetPermission(), Reasons: append([]string{}, a.GetReasons()...)})
			}
			return nil, out, nil
		})
	addTool(s, &sdk.Tool{Name: "share_link_create", Annotations: additive("Create a share link", false),
		Description: "Make a share link for a file or folder: a token anyone may open it with, without an account, " +
			"optionally with a password, an expiry and a number of uses."},
		func(ctx context.Context, _ *sdk.CallToolRequest, in linkIn) (*sdk.CallToolResult, Link, error) {
			if err := checkPath("path", in.Path); err != nil {
				return nil, Link{}, err
			}
			role := nexusv1.Role_ROLE_VIEWER
			if in.Role != "" {
				var err error
				if role, err = parseRole(in.Role, "viewer", "editor"); err != nil {
					return nil, Link{}, err
				}
			}
			req := &nexusv1.CreateLinkRequest{Path: in.Path, Role: role, Password: in.Password, MaxUses: in.MaxUses}
			if in.ExpiresInSecond > 0 {
				req.ExpiresIn = durationpb.New(time.Duration(in.ExpiresInSecond) * time.Second)
			}
			r, err := s.b.Share.CreateLink(ctx, connect.NewRequest(req))
			if err != nil {
				return nil, Link{}, toolError(in.Path, err)
			}
			l := r.Msg.GetLink()
			return nil, Link{ID: l.GetId(), Token: r.Msg.GetToken(), Role: roleName(l.GetRole()), ExpiresAt: rfc3339(l.GetExpiresAt())}, nil
		})
	addTool(s, &sdk.Tool{Name: "shared_with_me", Annotations: readOnly("What is shared with me"),
		Description: "List the files and folders granted to you or to your groups, a page at a time."},
		func(ctx context.Context, _ *sdk.CallToolRequest, in sharedIn) (*sdk.CallToolResult, SharedPage, error) {
			r, err := s.b.Share.SharedWithMe(ctx, connect.NewRequest(&nexusv1.SharedWithMeRequest{PageSize: pageSize(in.PageSize), PageToken: in.PageToken}))
			if err != nil {
				return nil, SharedPage{}, toolError("shared entries", err)
			}
			out := SharedPage{Entries: []Shared{}, NextPageToken: r.Msg.GetNextPageToken()}
			for _, e := range r.Msg.GetEntries() {
				out.Entries = append(out.Entries, Shared{Zone: e.GetZone(), Entry: entryOf(e.GetEntry()), Role: roleName(e.GetRole()), Via: e.GetVia()})
			}
			return nil, out, nil
		})
	addTool(s, &sdk.Tool{Name: "check", Annotations: readOnly("Check a permission"),
		Description: "Ask whether you (or another user or group) have a permission on a path of your zone, a zone or a group. " +
			"A resource you cannot see answers denied, as a missing one does."},
		func(ctx context.Context, _ *sdk.CallToolRequest, in checkIn) (*sdk.CallToolResult, Decision, error) {
			r, err := s.b.Identity.Check(ctx, connect.NewRequest(&nexusv1.CheckRequest{Resource: in.Resource, Permission: in.Permission,
				Subject: in.Subject, Consistency: consistency(in.ConsistencyToken)}))
			if err != nil {
				return nil, Decision{}, toolError(in.Resource, err)
			}
			return nil, Decision{Allowed: r.Msg.GetAllowed()}, nil
		})
	addTool(s, &sdk.Tool{Name: "whoami", Annotations: readOnly("Who am I"),
		Description: "Say which user or agent, of which zone, this server's API key acts as."},
		func(ctx context.Context, _ *sdk.CallToolRequest, _ struct{}) (*sdk.CallToolResult, Identity, error) {
			r, err := s.b.Identity.WhoAmI(ctx, connect.NewRequest(&nexusv1.WhoAmIRequest{}))
			if err != nil {
				return nil, Identity{}, toolError("you", err)
			}
			u := r.Msg.GetUser()
			return nil, Identity{User: u.GetName(), Zone: u.GetZone(), ZoneAdmin: r.Msg.GetZoneAdmin(), KeyID: r.Msg.GetKeyId()}, nil
		})
}
