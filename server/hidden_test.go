package server_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	nexusv1 "github.com/nexus-authz/nexus/api/nexus/v1"
	"github.com/nexus-authz/nexus/api/nexus/v1/nexusv1connect"
	"github.com/nexus-authz/nexus/server"
)

// clients are one caller's clients of every Nexus service.
type clients struct {
	ids    nexusv1connect.IdentityServiceClient
	files  nexusv1connect.FileServiceClient
	share  nexusv1connect.ShareServiceClient
	memory nexusv1connect.MemoryServiceClient
	search nexusv1connect.SearchServiceClient
}

func clientsOf(url, key string) clients {
	c, o := http.DefaultClient, bearer(key)
	return clients{
		ids:    nexusv1connect.NewIdentityServiceClient(c, url, o),
		files:  nexusv1connect.NewFileServiceClient(c, url, o),
		share:  nexusv1connect.NewShareServiceClient(c, url, o),
		memory: nexusv1connect.NewMemoryServiceClient(c, url, o),
		search: nexusv1connect.NewSearchServiceClient(c, url, o),
	}
}

// hiddenWorld is a server with two zones. In zone default, the operator
// "admin" owns /secret (a folder with plan.txt), /secret.txt, a share link,
// a memory, an upload, a group "staff" and its own API key; mallory (a plain
// member) may see none of them but the group; mallory owns /mine. Zone acme has its admin "root", a user
// "carol" and a group "team" with carol in it.
type hiddenWorld struct {
	admin, mallory, root clients
	link, memory, upload string // ids of the operator's link, memory, upload
	adminKey             string // id of the operator's API key
}

func newHiddenWorld(t *testing.T) *hiddenWorld {
	t.Helper()
	ctx := context.Background()
	r := start(t, server.Config{})
	w := &hiddenWorld{admin: clientsOf(r.url, r.adminKey)}
	a := w.admin
	key := func(user string) string {
		k, err := a.ids.CreateAPIKey(ctx, connect.NewRequest(&nexusv1.CreateAPIKeyRequest{User: user}))
		require.NoError(t, err)
		return k.Msg.GetSecret()
	}
	_, err := a.ids.CreateUser(ctx, connect.NewRequest(&nexusv1.CreateUserRequest{Name: "mallory"}))
	require.NoError(t, err)
	w.mallory = clientsOf(r.url, key("mallory"))

	for p, data := range map[string]string{"/secret/plan.txt": "the xylophone plan", "/secret.txt": "x", "/mine/a.txt": "mine"} {
		_, err := a.files.Write(ctx, connect.NewRequest(&nexusv1.WriteRequest{Path: p, Data: []byte(data), CreateParents: true}))
		require.NoError(t, err)
	}
	_, err = a.ids.CreateGroup(ctx, connect.NewRequest(&nexusv1.CreateGroupRequest{Name: "staff"}))
	require.NoError(t, err)
	_, err = a.share.Grant(ctx, connect.NewRequest(&nexusv1.GrantRequest{Path: "/mine", Subject: "user:mallory", Role: nexusv1.Role_ROLE_OWNER}))
	require.NoError(t, err)
	l, err := a.share.CreateLink(ctx, connect.NewRequest(&nexusv1.CreateLinkRequest{Path: "/secret"}))
	require.NoError(t, err)
	w.link = l.Msg.GetLink().GetId()
	m, err := a.memory.Remember(ctx, connect.NewRequest(&nexusv1.RememberRequest{Text: "the xylophone plan"}))
	require.NoError(t, err)
	w.memory = m.Msg.GetMemory().GetId()
	u, err := a.files.BeginUpload(ctx, connect.NewRequest(&nexusv1.BeginUploadRequest{Path: "/secret/up.bin", Size: 1}))
	require.NoError(t, err)
	w.upload = u.Msg.GetUploadId()
	who, err := a.ids.WhoAmI(ctx, connect.NewRequest(&nexusv1.WhoAmIRequest{}))
	require.NoError(t, err)
	w.adminKey = who.Msg.GetKeyId()

	_, err = a.ids.CreateZone(ctx, connect.NewRequest(&nexusv1.CreateZoneRequest{Name: "acme"}))
	require.NoError(t, err)
	for _, u := range []*nexusv1.CreateUserRequest{{Name: "root", Zone: "acme", ZoneAdmin: true}, {Name: "carol", Zone: "acme"}} {
		_, err := a.ids.CreateUser(ctx, connect.NewRequest(u))
		require.NoError(t, err)
	}
	_, err = a.ids.CreateGroup(ctx, connect.NewRequest(&nexusv1.CreateGroupRequest{Name: "team", Zone: "acme"}))
	require.NoError(t, err)
	_, err = a.ids.AddGroupMember(ctx, connect.NewRequest(&nexusv1.AddGroupMemberRequest{Group: "acme/team", Member: "acme/carol"}))
	require.NoError(t, err)
	w.root = clientsOf(r.url, key("acme/root"))
	return w
}

// answer is all a caller sees of a call: code, message and response body.
type answer struct{ code, msg, body string }

func answerOf[T any](resp *connect.Response[T], err error) answer {
	if err != nil {
		var ce *connect.Error
		if !errors.As(err, &ce) {
			return answer{code: "transport", msg: err.Error()}
		}
		return answer{code: ce.Code().String(), msg: ce.Message()}
	}
	b, merr := protojson.Marshal(any(resp.Msg).(proto.Message))
	if merr != nil {
		return answer{code: "marshal", msg: merr.Error()}
	}
	return answer{code: "ok", body: string(b)}
}

// without replaces the probed name, which the answer may echo, by NAME: what
// remains must depend on nothing but the request's shape.
func (a answer) without(name string) answer {
	return answer{a.code, strings.ReplaceAll(a.msg, name, "NAME"), strings.ReplaceAll(a.body, name, "NAME")}
}

// TestHiddenAndMissingAnswerAlike: every RPC that takes a path or a name
// answers a zone member identically (code, message, response body) for a
// name that exists but is hidden from it — in its own zone or in another —
// and for a name that does not exist, so no name can be probed. Each case
// is called once with the hidden name and once with the missing one; a
// message may echo the name the caller sent, and nothing else may differ.
func TestHiddenAndMissingAnswerAlike(t *testing.T) {
	t.Parallel()
	w := newHiddenWorld(t)
	ctx := context.Background()
	fresh := &nexusv1.Consistency{Requirement: &nexusv1.Consistency_FullyConsistent{FullyConsistent: true}}
	m, root := w.mallory, w.root
	const (
		hiddenPath = "secret" // /secret and /secret.txt exist, hidden from mallory
		zone       = "acme"   // another zone
	)
	sub := func(s, name string) string { return strings.ReplaceAll(s, "NAME", name) }

	type call func(name string) answer
	cases := []struct {
		rpc             string
		hidden, missing string
		call            call
	}{
		// FileService: paths of the caller's zone.
		{"Stat /NAME", hiddenPath, "nosuch", func(n string) answer {
			return answerOf(m.files.Stat(ctx, connect.NewRequest(&nexusv1.StatRequest{Path: "/" + n, Consistency: fresh})))
		}},
		{"Stat /NAME/plan.txt", hiddenPath, "nosuch", func(n string) answer {
			return answerOf(m.files.Stat(ctx, connect.NewRequest(&nexusv1.StatRequest{Path: sub("/NAME/plan.txt", n), Consistency: fresh})))
		}},
		{"List /NAME", hiddenPath, "nosuch", func(n string) answer {
			return answerOf(m.files.List(ctx, connect.NewRequest(&nexusv1.ListRequest{Path: "/" + n, Consistency: fresh})))
		}},
		{"Read /NAME/plan.txt", hiddenPath, "nosuch", func(n string) answer {
			return answerOf(m.files.Read(ctx, connect.NewRequest(&nexusv1.ReadRequest{Path: sub("/NAME/plan.txt", n), Consistency: fresh})))
		}},
		{"Write /NAME.txt", hiddenPath, "nosuch", func(n string) answer {
			return answerOf(m.files.Write(ctx, connect.NewRequest(&nexusv1.WriteRequest{Path: "/" + n + ".txt", Data: []byte("x")})))
		}},
		{"Write /NAME/new.txt", hiddenPath, "nosuch", func(n string) answer {
			return answerOf(m.files.Write(ctx, connect.NewRequest(&nexusv1.WriteRequest{Path: sub("/NAME/new.txt", n), Data: []byte("x")})))
		}},
		{"Write /NAME/d/new.txt creating parents", hiddenPath, "nosuch", func(n string) answer {
			return answerOf(m.files.Write(ctx, connect.NewRequest(&nexusv1.WriteRequest{Path: sub("/NAME/d/new.txt", n), Data: []byte("x"), CreateParents: true})))
		}},
		{"Mkdir /NAME/d", hiddenPath, "nosuch", func(n string) answer {
			return answerOf(m.files.Mkdir(ctx, connect.NewRequest(&nexusv1.MkdirRequest{Path: sub("/NAME/d", n)})))
		}},
		{"Mkdir -p /NAME/d/e", hiddenPath, "nosuch", func(n string) answer {
			return answerOf(m.files.Mkdir(ctx, connect.NewRequest(&nexusv1.MkdirRequest{Path: sub("/NAME/d/e", n), Parents: true})))
		}},
		{"Delete /NAME", hiddenPath, "nosuch", func(n string) answer {
			return answerOf(m.files.Delete(ctx, connect.NewRequest(&nexusv1.DeleteRequest{Path: "/" + n, Recursive: true})))
		}},
		{"Move /NAME/plan.txt to /mine", hiddenPath, "nosuch", func(n string) answer {
			return answerOf(m.files.Move(ctx, connect.NewRequest(&nexusv1.MoveRequest{Source: sub("/NAME/plan.txt", n), Destination: "/mine/p.txt"})))
		}},
		{"Move /mine/a.txt into /NAME", hiddenPath, "nosuch", func(n string) answer {
			return answerOf(m.files.Move(ctx, connect.NewRequest(&nexusv1.MoveRequest{Source: "/mine/a.txt", Destination: sub("/NAME/a.txt", n)})))
		}},
		{"Copy /NAME/plan.txt to /mine", hiddenPath, "nosuch", func(n string) answer {
			return answerOf(m.files.Copy(ctx, connect.NewRequest(&nexusv1.CopyRequest{Source: sub("/NAME/plan.txt", n), Destination: "/mine/p.txt"})))
		}},
		{"Copy /mine/a.txt into /NAME", hiddenPath, "nosuch", func(n string) answer {
			return answerOf(m.files.Copy(ctx, connect.NewRequest(&nexusv1.CopyRequest{Source: "/mine/a.txt", Destination: sub("/NAME/a.txt", n)})))
		}},
		{"ListVersions /NAME/plan.txt", hiddenPath, "nosuch", func(n string) answer {
			return answerOf(m.files.ListVersions(ctx, connect.NewRequest(&nexusv1.ListVersionsRequest{Path: sub("/NAME/plan.txt", n), Consistency: fresh})))
		}},
		{"RestoreVersion /NAME/plan.txt", hiddenPath, "nosuch", func(n string) answer {
			return answerOf(m.files.RestoreVersion(ctx, connect.NewRequest(&nexusv1.RestoreVersionRequest{Path: sub("/NAME/plan.txt", n), Version: 1})))
		}},
		{"Glob /NAME/*", hiddenPath, "nosuch", func(n string) answer {
			return answerOf(m.files.Glob(ctx, connect.NewRequest(&nexusv1.GlobRequest{Pattern: sub("/NAME/*", n), Consistency: fresh})))
		}},
		{"Grep under /NAME", hiddenPath, "nosuch", func(n string) answer {
			return answerOf(m.files.Grep(ctx, connect.NewRequest(&nexusv1.GrepRequest{Pattern: "plan", Path: "/" + n, Consistency: fresh})))
		}},
		{"BeginUpload /NAME/u.bin", hiddenPath, "nosuch", func(n string) answer {
			return answerOf(m.files.BeginUpload(ctx, connect.NewRequest(&nexusv1.BeginUploadRequest{Path: sub("/NAME/u.bin", n), Size: 1})))
		}},
		{"AppendUpload of another's upload", w.upload, "upl_0000000000000000000000000", func(n string) answer {
			return answerOf(m.files.AppendUpload(ctx, connect.NewRequest(&nexusv1.AppendUploadRequest{UploadId: n, Data: []byte("x")})))
		}},
		{"CommitUpload of another's upload", w.upload, "upl_0000000000000000000000000", func(n string) answer {
			return answerOf(m.files.CommitUpload(ctx, connect.NewRequest(&nexusv1.CommitUploadRequest{UploadId: n})))
		}},

		// ShareService.
		{"Grant on /NAME", hiddenPath, "nosuch", func(n string) answer {
			return answerOf(m.share.Grant(ctx, connect.NewRequest(&nexusv1.GrantRequest{Path: "/" + n, Subject: "user:mallory", Role: nexusv1.Role_ROLE_VIEWER})))
		}},
		{"Revoke on /NAME", hiddenPath, "nosuch", func(n string) answer {
			return answerOf(m.share.Revoke(ctx, connect.NewRequest(&nexusv1.RevokeRequest{Path: "/" + n, Subject: "user:admin", Role: nexusv1.Role_ROLE_OWNER})))
		}},
		{"ListGrants /NAME", hiddenPath, "nosuch", func(n string) answer {
			return answerOf(m.share.ListGrants(ctx, connect.NewRequest(&nexusv1.ListGrantsRequest{Path: "/" + n, Consistency: fresh})))
		}},
		{"CreateLink /NAME", hiddenPath, "nosuch", func(n string) answer {
			return answerOf(m.share.CreateLink(ctx, connect.NewRequest(&nexusv1.CreateLinkRequest{Path: "/" + n})))
		}},
		{"ListLinks /NAME", hiddenPath, "nosuch", func(n string) answer {
			return answerOf(m.share.ListLinks(ctx, connect.NewRequest(&nexusv1.ListLinksRequest{Path: "/" + n})))
		}},
		{"RevokeLink of another's link", w.link, "lnk_0000000000000000000000000", func(n string) answer {
			return answerOf(m.share.RevokeLink(ctx, connect.NewRequest(&nexusv1.RevokeLinkRequest{Link: n})))
		}},
		{"LinkAccessLog of another's link", w.link, "lnk_0000000000000000000000000", func(n string) answer {
			return answerOf(m.share.LinkAccessLog(ctx, connect.NewRequest(&nexusv1.LinkAccessLogRequest{Link: n})))
		}},

		// MemoryService and SearchService.
		{"Memory Get of another's memory", w.memory, "mem_0000000000000000000000000", func(n string) answer {
			return answerOf(m.memory.Get(ctx, connect.NewRequest(&nexusv1.MemoryServiceGetRequest{Id: n, Consistency: fresh})))
		}},
		{"Memory Forget of another's memory", w.memory, "mem_0000000000000000000000000", func(n string) answer {
			return answerOf(m.memory.Forget(ctx, connect.NewRequest(&nexusv1.ForgetRequest{Id: n})))
		}},
		{"Search a word of a hidden file", "xylophone", "zanzibarian", func(n string) answer {
			return answerOf(m.search.Search(ctx, connect.NewRequest(&nexusv1.SearchRequest{Query: n, Consistency: fresh})))
		}},

		// IdentityService: Check on paths of the caller's zone...
		{"Check read of /NAME/plan.txt", hiddenPath, "nosuch", func(n string) answer {
			return answerOf(m.ids.Check(ctx, connect.NewRequest(&nexusv1.CheckRequest{Resource: sub("/NAME/plan.txt", n), Permission: "read"})))
		}},
		{"Check write of /NAME", hiddenPath, "nosuch", func(n string) answer {
			return answerOf(m.ids.Check(ctx, connect.NewRequest(&nexusv1.CheckRequest{Resource: "/" + n, Permission: "write", Consistency: fresh})))
		}},
		{"Check read of /NAME naming oneself", hiddenPath, "nosuch", func(n string) answer {
			return answerOf(m.ids.Check(ctx, connect.NewRequest(&nexusv1.CheckRequest{Resource: "/" + n, Permission: "read", Subject: "user:mallory"})))
		}},
		{"Check read of /NAME for another subject", hiddenPath, "nosuch", func(n string) answer {
			return answerOf(m.ids.Check(ctx, connect.NewRequest(&nexusv1.CheckRequest{Resource: "/" + n, Permission: "read", Subject: "user:admin"})))
		}},
		// ... and on another zone's names.
		{"Check zone:NAME", zone, "nosuchzone", func(n string) answer {
			return answerOf(m.ids.Check(ctx, connect.NewRequest(&nexusv1.CheckRequest{Resource: "zone:" + n, Permission: "access"})))
		}},
		{"Check zone:NAME for another subject", zone, "nosuchzone", func(n string) answer {
			return answerOf(m.ids.Check(ctx, connect.NewRequest(&nexusv1.CheckRequest{Resource: "zone:" + n, Permission: "access", Subject: "user:admin"})))
		}},
		{"Check group:acme/NAME", "team", "nosuch", func(n string) answer {
			return answerOf(m.ids.Check(ctx, connect.NewRequest(&nexusv1.CheckRequest{Resource: "group:acme/" + n, Permission: "membership"})))
		}},
		{"Check group:NAME/team", zone, "nosuchzone", func(n string) answer {
			return answerOf(m.ids.Check(ctx, connect.NewRequest(&nexusv1.CheckRequest{Resource: sub("group:NAME/team", n), Permission: "view", Consistency: fresh})))
		}},
		{"Check group:acme/NAME for another subject", "team", "nosuch", func(n string) answer {
			return answerOf(m.ids.Check(ctx, connect.NewRequest(&nexusv1.CheckRequest{Resource: "group:acme/" + n, Permission: "membership", Subject: "user:admin"})))
		}},

		// IdentityService: another zone's groups, users and zones.
		{"AddGroupMember to acme/NAME", "team", "nosuch", func(n string) answer {
			return answerOf(m.ids.AddGroupMember(ctx, connect.NewRequest(&nexusv1.AddGroupMemberRequest{Group: "acme/" + n, Member: "user:mallory"})))
		}},
		{"AddGroupMember to NAME/team", zone, "nosuchzone", func(n string) answer {
			return answerOf(m.ids.AddGroupMember(ctx, connect.NewRequest(&nexusv1.AddGroupMemberRequest{Group: n + "/team", Member: "user:mallory"})))
		}},
		{"RemoveGroupMember from acme/NAME", "team", "nosuch", func(n string) answer {
			return answerOf(m.ids.RemoveGroupMember(ctx, connect.NewRequest(&nexusv1.RemoveGroupMemberRequest{Group: "acme/" + n, Member: "user:acme/carol"})))
		}},
		{"RemoveGroupMember from NAME/team", zone, "nosuchzone", func(n string) answer {
			return answerOf(m.ids.RemoveGroupMember(ctx, connect.NewRequest(&nexusv1.RemoveGroupMemberRequest{Group: n + "/team", Member: "user:mallory"})))
		}},
		{"ListGroupMembers of acme/NAME", "team", "nosuch", func(n string) answer {
			return answerOf(m.ids.ListGroupMembers(ctx, connect.NewRequest(&nexusv1.ListGroupMembersRequest{Group: "acme/" + n})))
		}},
		{"ListGroupMembers of NAME/team", zone, "nosuchzone", func(n string) answer {
			return answerOf(m.ids.ListGroupMembers(ctx, connect.NewRequest(&nexusv1.ListGroupMembersRequest{Group: n + "/team"})))
		}},
		{"ListAPIKeys of acme/NAME", "carol", "nosuch", func(n string) answer {
			return answerOf(m.ids.ListAPIKeys(ctx, connect.NewRequest(&nexusv1.ListAPIKeysRequest{User: "acme/" + n})))
		}},
		{"ListAPIKeys of NAME/carol", zone, "nosuchzone", func(n string) answer {
			return answerOf(m.ids.ListAPIKeys(ctx, connect.NewRequest(&nexusv1.ListAPIKeysRequest{User: n + "/carol"})))
		}},
		{"CreateAPIKey for acme/NAME", "carol", "nosuch", func(n string) answer {
			return answerOf(m.ids.CreateAPIKey(ctx, connect.NewRequest(&nexusv1.CreateAPIKeyRequest{User: "acme/" + n})))
		}},
		{"CreateAPIKey for NAME/carol", zone, "nosuchzone", func(n string) answer {
			return answerOf(m.ids.CreateAPIKey(ctx, connect.NewRequest(&nexusv1.CreateAPIKeyRequest{User: n + "/carol"})))
		}},
		{"RevokeAPIKey of another's key", w.adminKey, "key_0000000000000000000000000", func(n string) answer {
			return answerOf(m.ids.RevokeAPIKey(ctx, connect.NewRequest(&nexusv1.RevokeAPIKeyRequest{Id: n})))
		}},
		{"ListUsers of zone NAME", zone, "nosuchzone", func(n string) answer {
			return answerOf(m.ids.ListUsers(ctx, connect.NewRequest(&nexusv1.ListUsersRequest{Zone: n})))
		}},
		{"ListGroups of zone NAME", zone, "nosuchzone", func(n string) answer {
			return answerOf(m.ids.ListGroups(ctx, connect.NewRequest(&nexusv1.ListGroupsRequest{Zone: n})))
		}},
		{"CreateUser in zone NAME", zone, "nosuchzone", func(n string) answer {
			return answerOf(m.ids.CreateUser(ctx, connect.NewRequest(&nexusv1.CreateUserRequest{Name: "eve", Zone: n})))
		}},
		{"CreateUser as an agent of acme/NAME", "carol", "nosuch", func(n string) answer {
			return answerOf(m.ids.CreateUser(ctx, connect.NewRequest(&nexusv1.CreateUserRequest{Name: "eve", AgentOf: "acme/" + n})))
		}},
		{"CreateGroup in zone NAME", zone, "nosuchzone", func(n string) answer {
			return answerOf(m.ids.CreateGroup(ctx, connect.NewRequest(&nexusv1.CreateGroupRequest{Name: "g", Zone: n})))
		}},
		// An admin of acme manages its groups, but the default zone's
		// names stay hidden from it.
		{"AddGroupMember of default/NAME by acme's admin", "mallory", "nosuch", func(n string) answer {
			return answerOf(root.ids.AddGroupMember(ctx, connect.NewRequest(&nexusv1.AddGroupMemberRequest{Group: "team", Member: "user:default/" + n})))
		}},
		{"RemoveGroupMember of default/NAME by acme's admin", "mallory", "nosuch", func(n string) answer {
			return answerOf(root.ids.RemoveGroupMember(ctx, connect.NewRequest(&nexusv1.RemoveGroupMemberRequest{Group: "team", Member: "user:default/" + n})))
		}},
		{"ListAPIKeys of default/NAME by acme's admin", "mallory", "nosuch", func(n string) answer {
			return answerOf(root.ids.ListAPIKeys(ctx, connect.NewRequest(&nexusv1.ListAPIKeysRequest{User: "default/" + n})))
		}},
		{"Check group:default/NAME by acme's admin", "staff", "nosuch", func(n string) answer {
			return answerOf(root.ids.Check(ctx, connect.NewRequest(&nexusv1.CheckRequest{Resource: "group:default/" + n, Permission: "view"})))
		}},
	}
	for _, c := range cases {
		t.Run(c.rpc, func(t *testing.T) {
			hidden := c.call(c.hidden)
			missing := c.call(c.missing)
			require.Equal(t, missing.without(c.missing), hidden.without(c.hidden),
				"a hidden name must answer like a missing one:\nhidden:  %+v\nmissing: %+v", hidden, missing)
		})
	}
}

// TestVisibleNamesStillAnswer: the names a caller may see answer as before:
// its own files, its own zone's names for a member, another zone's names
// for that zone's admin and for an operator.
func TestVisibleNamesStillAnswer(t *testing.T) {
	t.Parallel()
	w := newHiddenWorld(t)
	ctx := context.Background()
	fresh := &nexusv1.Consistency{Requirement: &nexusv1.Consistency_FullyConsistent{FullyConsistent: true}}
	m, root, op := w.mallory, w.root, w.admin
	check := func(c clients, resource, permission, subject string) *nexusv1.CheckResponse {
		t.Helper()
		resp, err := c.ids.Check(ctx, connect.NewRequest(&nexusv1.CheckRequest{Resource: resource, Permission: permission, Subject: subject, Consistency: fresh}))
		require.NoError(t, err, "%s %s %s", resource, permission, subject)
		return resp.Msg
	}

	t.Run("a member's own files and zone", func(t *testing.T) {
		st, err := m.files.Stat(ctx, connect.NewRequest(&nexusv1.StatRequest{Path: "/mine/a.txt", Consistency: fresh}))
		require.NoError(t, err)
		require.Equal(t, "/mine/a.txt", st.Msg.GetEntry().GetPath())
		for _, perm := range []string{"read", "write"} {
			d := check(m, "/mine/a.txt", perm, "")
			require.True(t, d.GetAllowed(), perm)
			require.NotEmpty(t, d.GetCheckedAt(), "an answer about a visible path names its revision")
		}
		require.True(t, check(m, "zone:default", "access", "").GetAllowed())
		d := check(m, "zone:default", "manage", "")
		require.False(t, d.GetAllowed())
		require.NotEmpty(t, d.GetCheckedAt(), "a denial on a visible resource names its revision")
		_, err = m.ids.Check(ctx, connect.NewRequest(&nexusv1.CheckRequest{Resource: "/mine", Permission: "read", Subject: "user:admin"}))
		require.Equal(t, connect.CodePermissionDenied, connect.CodeOf(err), "only admins ask about others: %v", err)
		_, err = m.ids.ListGroupMembers(ctx, connect.NewRequest(&nexusv1.ListGroupMembersRequest{Group: "nosuch"}))
		require.Equal(t, connect.CodeNotFound, connect.CodeOf(err), "a missing group of one's own zone: %v", err)
	})

	t.Run("an admin of the other zone sees its names", func(t *testing.T) {
		ms, err := root.ids.ListGroupMembers(ctx, connect.NewRequest(&nexusv1.ListGroupMembersRequest{Group: "team"}))
		require.NoError(t, err)
		require.Equal(t, []string{"user:acme/carol"}, ms.Msg.GetMembers())
		ms, err = root.ids.ListGroupMembers(ctx, connect.NewRequest(&nexusv1.ListGroupMembersRequest{Group: "acme/team"}))
		require.NoError(t, err)
		require.Len(t, ms.Msg.GetMembers(), 1)
		_, err = root.ids.ListAPIKeys(ctx, connect.NewRequest(&nexusv1.ListAPIKeysRequest{User: "carol"}))
		require.NoError(t, err)
		_, err = root.ids.CreateAPIKey(ctx, connect.NewRequest(&nexusv1.CreateAPIKeyRequest{User: "acme/carol"}))
		require.NoError(t, err)
		require.True(t, check(root, "zone:acme", "manage", "").GetAllowed())
		require.True(t, check(root, "group:team", "membership", "user:carol").GetAllowed())
		require.False(t, check(root, "group:acme/team", "membership", "user:root").GetAllowed())
		_, err = root.ids.RemoveGroupMember(ctx, connect.NewRequest(&nexusv1.RemoveGroupMemberRequest{Group: "team", Member: "carol"}))
		require.NoError(t, err)
		_, err = root.ids.AddGroupMember(ctx, connect.NewRequest(&nexusv1.AddGroupMemberRequest{Group: "team", Member: "user:acme/carol"}))
		require.NoError(t, err)
		_, err = root.ids.AddGroupMember(ctx, connect.NewRequest(&nexusv1.AddGroupMemberRequest{Group: "team", Member: "group:nosuch"}))
		require.Equal(t, connect.CodeNotFound, connect.CodeOf(err), "a missing name of its own zone: %v", err)
	})

	t.Run("an operator sees every zone's names", func(t *testing.T) {
		ms, err := op.ids.ListGroupMembers(ctx, connect.NewRequest(&nexusv1.ListGroupMembersRequest{Group: "acme/team"}))
		require.NoError(t, err)
		require.Equal(t, []string{"user:acme/carol"}, ms.Msg.GetMembers())
		require.True(t, check(op, "group:acme/team", "membership", "user:acme/carol").GetAllowed())
		require.NotEmpty(t, check(op, "zone:acme", "access", "").GetCheckedAt(), "a denial on a visible resource names its revision")
		_, err = op.ids.ListAPIKeys(ctx, connect.NewRequest(&nexusv1.ListAPIKeysRequest{User: "acme/carol"}))
		require.NoError(t, err)
		_, err = op.ids.Check(ctx, connect.NewRequest(&nexusv1.CheckRequest{Resource: "group:acme/nosuch", Permission: "view"}))
		require.Equal(t, connect.CodeNotFound, connect.CodeOf(err), "%v", err)
		_, err = op.ids.Check(ctx, connect.NewRequest(&nexusv1.CheckRequest{Resource: "/nosuch", Permission: "read"}))
		require.Equal(t, connect.CodeNotFound, connect.CodeOf(err), "an admin sees every path of its zone: %v", err)
		_, err = op.ids.AddGroupMember(ctx, connect.NewRequest(&nexusv1.AddGroupMemberRequest{Group: "acme/team", Member: "user:default/mallory"}))
		require.Equal(t, connect.CodeInvalidArgument, connect.CodeOf(err), "a group holds members of its own zone only: %v", err)
	})
}
