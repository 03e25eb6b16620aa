package server_test

import (
	"context"
	"testing"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"

	nexusv1 "github.com/nexus-authz/nexus/api/nexus/v1"
	"github.com/nexus-authz/nexus/server"
)

// TestListsAnswerWhatWasMade: every List procedure renders what was made
// (the denials and "hidden" answers of the same procedures are in
// hidden_test.go).
func TestListsAnswerWhatWasMade(t *testing.T) {
	t.Parallel()
	r := start(t, server.Config{})
	a := clientsOf(r.url, r.adminKey)
	ctx := context.Background()
	must := func(_ any, err error) {
		t.Helper()
		require.NoError(t, err)
	}

	zones, err := a.ids.ListZones(ctx, connect.NewRequest(&nexusv1.ListZonesRequest{}))
	require.NoError(t, err)
	var zoneNames []string
	for _, z := range zones.Msg.GetZones() {
		zoneNames = append(zoneNames, z.GetName())
	}
	require.Contains(t, zoneNames, "default")

	must(a.ids.CreateUser(ctx, connect.NewRequest(&nexusv1.CreateUserRequest{Name: "bob"})))
	users, err := a.ids.ListUsers(ctx, connect.NewRequest(&nexusv1.ListUsersRequest{}))
	require.NoError(t, err)
	var userNames []string
	for _, u := range users.Msg.GetUsers() {
		userNames = append(userNames, u.GetName())
	}
	require.ElementsMatch(t, []string{"admin", "bob"}, userNames)

	must(a.ids.CreateGroup(ctx, connect.NewRequest(&nexusv1.CreateGroupRequest{Name: "staff"})))
	groups, err := a.ids.ListGroups(ctx, connect.NewRequest(&nexusv1.ListGroupsRequest{}))
	require.NoError(t, err)
	require.Len(t, groups.Msg.GetGroups(), 1)
	require.Equal(t, "staff", groups.Msg.GetGroups()[0].GetName())

	must(a.files.Write(ctx, connect.NewRequest(&nexusv1.WriteRequest{Path: "/doc.txt", Data: []byte("one")})))
	w, err := a.files.Write(ctx, connect.NewRequest(&nexusv1.WriteRequest{Path: "/doc.txt", Data: []byte("two!")}))
	require.NoError(t, err)
	fresh := &nexusv1.Consistency{Requirement: &nexusv1.Consistency_AtLeastAsFresh{AtLeastAsFresh: w.Msg.GetConsistencyToken()}}
	vs, err := a.files.ListVersions(ctx, connect.NewRequest(&nexusv1.ListVersionsRequest{Path: "/doc.txt", Consistency: fresh}))
	require.NoError(t, err)
	require.Len(t, vs.Msg.GetVersions(), 2)
	require.Equal(t, int64(2), vs.Msg.GetVersions()[0].GetVersion(), "newest first")
	require.Equal(t, int64(4), vs.Msg.GetVersions()[0].GetSize())
	require.Equal(t, "admin", vs.Msg.GetVersions()[1].GetCreatedBy())

	g, err := a.share.Grant(ctx, connect.NewRequest(&nexusv1.GrantRequest{Path: "/doc.txt", Subject: "user:bob", Role: nexusv1.Role_ROLE_VIEWER}))
	require.NoError(t, err)
	grants, err := a.share.ListGrants(ctx, connect.NewRequest(&nexusv1.ListGrantsRequest{Path: "/doc.txt",
		Consistency: &nexusv1.Consistency{Requirement: &nexusv1.Consistency_AtLeastAsFresh{AtLeastAsFresh: g.Msg.GetConsistencyToken()}}}))
	require.NoError(t, err)
	var bob *nexusv1.Grant
	for _, gr := range grants.Msg.GetGrants() {
		if gr.GetRole() == nexusv1.Role_ROLE_VIEWER {
			bob = gr
		}
	}
	require.NotNil(t, bob, "%v", grants.Msg.GetGrants())
	require.Contains(t, bob.GetSubject(), "bob")
	require.NotEmpty(t, grants.Msg.GetAccess())

	must(a.share.CreateLink(ctx, connect.NewRequest(&nexusv1.CreateLinkRequest{Path: "/doc.txt", Role: nexusv1.Role_ROLE_VIEWER, Password: "pw", MaxUses: 3})))
	links, err := a.share.ListLinks(ctx, connect.NewRequest(&nexusv1.ListLinksRequest{Path: "/doc.txt"}))
	require.NoError(t, err)
	require.Len(t, links.Msg.GetLinks(), 1)
	require.True(t, links.Msg.GetLinks()[0].GetHasPassword())
	require.Equal(t, int64(3), links.Msg.GetLinks()[0].GetMaxUses())

	m, err := a.memory.Remember(ctx, connect.NewRequest(&nexusv1.RememberRequest{Text: "the plan", Tags: []string{"plans"}}))
	require.NoError(t, err)
	ms, err := a.memory.List(ctx, connect.NewRequest(&nexusv1.MemoryServiceListRequest{Tags: []string{"plans"},
		Consistency: &nexusv1.Consistency{Requirement: &nexusv1.Consistency_AtLeastAsFresh{AtLeastAsFresh: m.Msg.GetConsistencyToken()}}}))
	require.NoError(t, err)
	require.Len(t, ms.Msg.GetMemories(), 1)
	require.Equal(t, "the plan", ms.Msg.GetMemories()[0].GetText())
	require.Equal(t, "admin", ms.Msg.GetMemories()[0].GetOwner())
}
