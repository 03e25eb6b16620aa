package server_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/durationpb"

	nexusv1 "github.com/nexus-authz/nexus/api/nexus/v1"
	"github.com/nexus-authz/nexus/api/nexus/v1/nexusv1connect"
	"github.com/nexus-authz/nexus/fileplane/sharing"
	"github.com/nexus-authz/nexus/server"
	"github.com/nexus-authz/nexus/server/rpc"
)

// TestSharingAcrossProtocols: grants and links end to end; OpenLink is the
// one procedure (with WriteLink) that needs no API key.
func TestSharingAcrossProtocols(t *testing.T) {
	t.Parallel()
	// Every protocol fails twice from 127.0.0.1: more than the default
	// per-address limit (its own tests are in package sharing).
	limits := sharing.DefaultLimits
	limits.FailuresPerAddr = 100
	r := start(t, server.Config{LinkLimits: limits})
	ctx := context.Background()
	ids := nexusv1connect.NewIdentityServiceClient(http.DefaultClient, r.url, bearer(r.adminKey))
	_, err := ids.CreateUser(ctx, connect.NewRequest(&nexusv1.CreateUserRequest{Name: "bob"}))
	require.NoError(t, err)
	key, err := ids.CreateAPIKey(ctx, connect.NewRequest(&nexusv1.CreateAPIKeyRequest{User: "bob"}))
	require.NoError(t, err)
	adminFiles := nexusv1connect.NewFileServiceClient(http.DefaultClient, r.url, bearer(r.adminKey))
	_, err = adminFiles.Write(ctx, connect.NewRequest(&nexusv1.WriteRequest{Path: "/docs/a.txt", Data: []byte("A"), CreateParents: true}))
	require.NoError(t, err)

	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			admin := nexusv1connect.NewShareServiceClient(p.client(), r.url, append(p.opts, bearer(r.adminKey))...)
			anon := nexusv1connect.NewShareServiceClient(p.client(), r.url, p.opts...)
			bobFiles := nexusv1connect.NewFileServiceClient(p.client(), r.url, append(p.opts, bearer(key.Msg.GetSecret()))...)
			bobShare := nexusv1connect.NewShareServiceClient(p.client(), r.url, append(p.opts, bearer(key.Msg.GetSecret()))...)

			g, err := admin.Grant(ctx, connect.NewRequest(&nexusv1.GrantRequest{Path: "/docs", Subject: "user:bob", Role: nexusv1.Role_ROLE_VIEWER}))
			require.NoError(t, err)
			cons := &nexusv1.Consistency{Requirement: &nexusv1.Consistency_AtLeastAsFresh{AtLeastAsFresh: g.Msg.GetConsistencyToken()}}
			rd, err := bobFiles.Read(ctx, connect.NewRequest(&nexusv1.ReadRequest{Path: "/docs/a.txt", Consistency: cons}))
			require.NoError(t, err)
			require.Equal(t, "A", string(rd.Msg.GetData()))
			sw, err := bobShare.SharedWithMe(ctx, connect.NewRequest(&nexusv1.SharedWithMeRequest{Consistency: cons}))
			require.NoError(t, err)
			require.Len(t, sw.Msg.GetEntries(), 1)
			require.Equal(t, "/docs", sw.Msg.GetEntries()[0].GetEntry().GetPath())
			_, err = bobShare.Grant(ctx, connect.NewRequest(&nexusv1.GrantRequest{Path: "/docs", Subject: "user:bob", Role: nexusv1.Role_ROLE_OWNER}))
			require.Equal(t, connect.CodePermissionDenied, connect.CodeOf(err), "%v", err)
			_, err = admin.Grant(ctx, connect.NewRequest(&nexusv1.GrantRequest{Path: "/docs", Subject: "user:ghost", Role: nexusv1.Role_ROLE_VIEWER}))
			require.Equal(t, connect.CodeInvalidArgument, connect.CodeOf(err))
			require.Contains(t, err.Error(), "user:ghost")

			rv, err := admin.Revoke(ctx, connect.NewRequest(&nexusv1.RevokeRequest{Path: "/docs", Subject: "user:bob", Role: nexusv1.Role_ROLE_VIEWER}))
			require.NoError(t, err)
			cons = &nexusv1.Consistency{Requirement: &nexusv1.Consistency_AtLeastAsFresh{AtLeastAsFresh: rv.Msg.GetConsistencyToken()}}
			_, err = bobFiles.Read(ctx, connect.NewRequest(&nexusv1.ReadRequest{Path: "/docs/a.txt", Consistency: cons}))
			require.Equal(t, connect.CodeNotFound, connect.CodeOf(err))

			l, err := admin.CreateLink(ctx, connect.NewRequest(&nexusv1.CreateLinkRequest{Path: "/docs", Password: "pw",
				ExpiresIn: durationpb.New(time.Hour), MaxUses: 10}))
			require.NoError(t, err)
			tok := l.Msg.GetToken()
			require.True(t, l.Msg.GetLink().GetHasPassword())

			o, err := anon.OpenLink(ctx, connect.NewRequest(&nexusv1.OpenLinkRequest{Token: tok, Password: "pw", SubPath: "a.txt"}))
			require.NoError(t, err, "no API key needed")
			require.Equal(t, "A", string(o.Msg.GetData()))
			require.Equal(t, "/a.txt", o.Msg.GetEntry().GetPath())
			_, err = anon.OpenLink(ctx, connect.NewRequest(&nexusv1.OpenLinkRequest{Token: tok, Password: "nope"}))
			require.Equal(t, connect.CodePermissionDenied, connect.CodeOf(err))
			require.Equal(t, "wrong password", err.(*connect.Error).Message())
			_, err = anon.WriteLink(ctx, connect.NewRequest(&nexusv1.WriteLinkRequest{Token: tok, Password: "pw", SubPath: "b.txt", Data: []byte("B")}))
			require.Equal(t, connect.CodePermissionDenied, connect.CodeOf(err), "a viewer link: %v", err)
			_, err = anon.ListLinks(ctx, connect.NewRequest(&nexusv1.ListLinksRequest{Path: "/docs"}))
			require.Equal(t, connect.CodeUnauthenticated, connect.CodeOf(err), "only OpenLink and WriteLink are anonymous")

			log, err := admin.LinkAccessLog(ctx, connect.NewRequest(&nexusv1.LinkAccessLogRequest{Link: l.Msg.GetLink().GetId()}))
			require.NoError(t, err)
			require.Len(t, log.Msg.GetEntries(), 3)
			require.Equal(t, "denied", log.Msg.GetEntries()[0].GetOutcome())
			require.Equal(t, "write", log.Msg.GetEntries()[0].GetAction())
			require.Equal(t, "wrong_password", log.Msg.GetEntries()[1].GetOutcome())
			require.Equal(t, "127.0.0.1", log.Msg.GetEntries()[1].GetRemoteAddr())
			require.NotEmpty(t, log.Msg.GetEntries()[1].GetUserAgent())
			require.Equal(t, "ok", log.Msg.GetEntries()[2].GetOutcome())

			_, err = admin.RevokeLink(ctx, connect.NewRequest(&nexusv1.RevokeLinkRequest{Link: tok}))
			require.NoError(t, err)
			_, err = anon.OpenLink(ctx, connect.NewRequest(&nexusv1.OpenLinkRequest{Token: tok, Password: "pw"}))
			require.Equal(t, connect.CodeNotFound, connect.CodeOf(err))
		})
	}

	t.Run("plain JSON", func(t *testing.T) {
		code, body := post(t, r.url+"/nexus.v1.ShareService/OpenLink", "", `{"token": "nxl_nope"}`)
		require.Equal(t, http.StatusNotFound, code)
		require.Equal(t, "not_found", body["code"])
		code, body = post(t, r.url+"/nexus.v1.ShareService/Grant", "", `{"path": "/docs"}`)
		require.Equal(t, http.StatusUnauthorized, code, "%v", body)
	})
}

// TestLinkClientBehindTrustedProxy: a share link's access log and limits
// count the client named by X-Forwarded-For only when the connection comes
// from a trusted proxy.
func TestLinkClientBehindTrustedProxy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, c := range []struct {
		name    string
		trusted string
		want    string
	}{
		{"no trusted proxy: the header is not believed", "", "127.0.0.1"},
		{"behind a trusted proxy", "127.0.0.1", "203.0.113.9"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			proxies, err := rpc.ParseTrustedProxies(c.trusted)
			require.NoError(t, err)
			r := start(t, server.Config{TrustedProxies: proxies})
			files := nexusv1connect.NewFileServiceClient(http.DefaultClient, r.url, bearer(r.adminKey))
			_, err = files.Write(ctx, connect.NewRequest(&nexusv1.WriteRequest{Path: "/d/a.txt", Data: []byte("A"), CreateParents: true}))
			require.NoError(t, err)
			admin := nexusv1connect.NewShareServiceClient(http.DefaultClient, r.url, bearer(r.adminKey))
			l, err := admin.CreateLink(ctx, connect.NewRequest(&nexusv1.CreateLinkRequest{Path: "/d"}))
			require.NoError(t, err)
			req := connect.NewRequest(&nexusv1.OpenLinkRequest{Token: l.Msg.GetToken()})
			req.Header().Set("X-Forwarded-For", "203.0.113.9")
			_, err = nexusv1connect.NewShareServiceClient(http.DefaultClient, r.url).OpenLink(ctx, req)
			require.NoError(t, err)
			log, err := admin.LinkAccessLog(ctx, connect.NewRequest(&nexusv1.LinkAccessLogRequest{Link: l.Msg.GetLink().GetId()}))
			require.NoError(t, err)
			require.NotEmpty(t, log.Msg.GetEntries())
			require.Equal(t, c.want, log.Msg.GetEntries()[0].GetRemoteAddr())
		})
	}
}
