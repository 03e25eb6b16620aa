package server_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"

	nexusv1 "github.com/nexus-authz/nexus/api/nexus/v1"
	"github.com/nexus-authz/nexus/api/nexus/v1/nexusv1connect"
	"github.com/nexus-authz/nexus/server"
)

type running struct {
	url      string
	adminKey string
	dir      string
	stop     func() error
}

func start(t testing.TB, cfg server.Config) *running {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = filepath.Join(t.TempDir(), "data")
	}
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.Open(ctx, cfg)
	require.NoError(t, err)
	ln, err := server.Listen("127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	key, err := os.ReadFile(filepath.Join(cfg.DataDir, server.AdminKeyFile))
	require.NoError(t, err)
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		err := <-done
		srv.Close()
		return err
	}
	t.Cleanup(func() { stop() })
	return &running{url: "http://" + ln.Addr().String(), adminKey: strings.TrimSpace(string(key)), dir: cfg.DataDir, stop: stop}
}

// h2c speaks HTTP/2 without TLS, as gRPC clients do on a plain port.
func h2c() *http.Client {
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: &http.Transport{Protocols: &p, TLSClientConfig: &tls.Config{}}}
}

func bearer(key string) connect.ClientOption {
	return connect.WithInterceptors(connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			if key != "" {
				req.Header().Set("Authorization", "Bearer "+key)
			}
			return next(ctx, req)
		}
	}))
}

var protocols = []struct {
	name   string
	client func() *http.Client
	opts   []connect.ClientOption
}{
	{"connect", func() *http.Client { return http.DefaultClient }, nil},
	{"connect-json", func() *http.Client { return http.DefaultClient }, []connect.ClientOption{connect.WithProtoJSON()}},
	{"grpc", h2c, []connect.ClientOption{connect.WithGRPC()}},
	{"grpc-web", func() *http.Client { return http.DefaultClient }, []connect.ClientOption{connect.WithGRPCWeb()}},
}

func TestIdentityAcrossProtocols(t *testing.T) {
	t.Parallel()
	r := start(t, server.Config{MaxRequestBytes: 4096})
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			ctx := context.Background()
			admin := nexusv1connect.NewIdentityServiceClient(p.client(), r.url, append(p.opts, bearer(r.adminKey))...)
			who, err := admin.WhoAmI(ctx, connect.NewRequest(&nexusv1.WhoAmIRequest{}))
			require.NoError(t, err)
			require.Equal(t, "admin", who.Msg.GetUser().GetName())
			require.True(t, who.Msg.GetOperator())

			name := "bob-" + p.name
			_, err = admin.CreateUser(ctx, connect.NewRequest(&nexusv1.CreateUserRequest{Name: name}))
			require.NoError(t, err)
			key, err := admin.CreateAPIKey(ctx, connect.NewRequest(&nexusv1.CreateAPIKeyRequest{User: name}))
			require.NoError(t, err)
			bob := nexusv1connect.NewIdentityServiceClient(p.client(), r.url, append(p.opts, bearer(key.Msg.GetSecret()))...)
			who, err = bob.WhoAmI(ctx, connect.NewRequest(&nexusv1.WhoAmIRequest{}))
			require.NoError(t, err)
			require.Equal(t, name, who.Msg.GetUser().GetName())
			require.False(t, who.Msg.GetZoneAdmin())

			_, err = bob.CreateZone(ctx, connect.NewRequest(&nexusv1.CreateZoneRequest{Name: "nope"}))
			require.Equal(t, connect.CodePermissionDenied, connect.CodeOf(err), "%v", err)

			_, err = admin.CreateUser(ctx, connect.NewRequest(&nexusv1.CreateUserRequest{Name: "bad name"}))
			require.Equal(t, connect.CodeInvalidArgument, connect.CodeOf(err))
			require.Contains(t, err.Error(), "user name")

			_, err = admin.CreateUser(ctx, connect.NewRequest(&nexusv1.CreateUserRequest{Name: strings.Repeat("x", 5000)}))
			require.Equal(t, connect.CodeResourceExhausted, connect.CodeOf(err), "%v", err)
			require.Contains(t, err.Error(), "4096", "the error names the limit")

			_, err = admin.RevokeAPIKey(ctx, connect.NewRequest(&nexusv1.RevokeAPIKeyRequest{Id: key.Msg.GetKey().GetId()}))
			require.NoError(t, err)
			_, err = bob.WhoAmI(ctx, connect.NewRequest(&nexusv1.WhoAmIRequest{}))
			require.Equal(t, connect.CodeUnauthenticated, connect.CodeOf(err))

			anon := nexusv1connect.NewIdentityServiceClient(p.client(), r.url, p.opts...)
			_, err = anon.WhoAmI(ctx, connect.NewRequest(&nexusv1.WhoAmIRequest{}))
			require.Equal(t, connect.CodeUnauthenticated, connect.CodeOf(err))
		})
	}
}

func post(t *testing.T, url, key, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return resp.StatusCode, out
}

func TestPlainJSONPost(t *testing.T) {
	t.Parallel()
	r := start(t, server.Config{})
	url := r.url + "/nexus.v1.IdentityService/WhoAmI"
	code, body := post(t, url, r.adminKey, `{}`)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "admin", body["user"].(map[string]any)["name"])

	code, body = post(t, url, "", `{}`)
	require.Equal(t, http.StatusUnauthorized, code)
	require.Equal(t, "unauthenticated", body["code"])

	code, body = post(t, r.url+"/nexus.v1.IdentityService/CreateUser", r.adminKey, `{"name": ""}`)
	require.Equal(t, http.StatusBadRequest, code)
	require.Equal(t, "invalid_argument", body["code"])
	require.Contains(t, body["message"], "user name")

	code, body = post(t, r.url+"/nexus.v1.IdentityService/CreateUser", r.adminKey, `{"name": 7}`)
	require.Equal(t, http.StatusBadRequest, code, "a field of the wrong type is refused: %v", body)
	require.Equal(t, "invalid_argument", body["code"])
}

func TestCORS(t *testing.T) {
	t.Parallel()
	r := start(t, server.Config{AllowedOrigins: []string{"https://app.example"}})
	preflight := func(origin string) *http.Response {
		req, _ := http.NewRequest(http.MethodOptions, r.url+"/nexus.v1.IdentityService/WhoAmI", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization,connect-protocol-version,content-type")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp
	}
	resp := preflight("https://app.example")
	require.Equal(t, "https://app.example", resp.Header.Get("Access-Control-Allow-Origin"))
	require.Contains(t, strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers")), "authorization")
	resp = preflight("https://evil.example")
	require.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"), "an origin not on the list gets no CORS grant")

	req, _ := http.NewRequest(http.MethodPost, r.url+"/nexus.v1.IdentityService/WhoAmI", strings.NewReader("{}"))
	req.Header.Set("Origin", "https://app.example")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+r.adminKey)
	got, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	got.Body.Close()
	require.Equal(t, "https://app.example", got.Header.Get("Access-Control-Allow-Origin"))
	require.Contains(t, got.Header.Get("Access-Control-Expose-Headers"), "Grpc-Status")
}

func TestHealthAndMetrics(t *testing.T) {
	t.Parallel()
	r := start(t, server.Config{})
	for path, want := range map[string]string{"/healthz": "ok", "/readyz": "ready"} {
		resp, err := http.Get(r.url + path)
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", path, b)
		require.Contains(t, string(b), want)
	}
	post(t, r.url+"/nexus.v1.IdentityService/WhoAmI", r.adminKey, `{}`)
	resp, err := http.Get(r.url + "/metrics")
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{
		`nexus_rpc_requests_total{code="ok",procedure="/nexus.v1.IdentityService/WhoAmI"}`,
		"nexus_rpc_duration_seconds_bucket",
		"nexus_authz_engine_calls_total",
		"nexus_authz_decisions_total",
		`nexus_build_info{version="` + server.Version() + `"} 1`,
	} {
		require.Contains(t, string(b), m)
	}
}

func TestDataSurvivesRestartAndShutdownIsClean(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	r := start(t, server.Config{DataDir: dir})
	ctx := context.Background()
	admin := nexusv1connect.NewIdentityServiceClient(http.DefaultClient, r.url, bearer(r.adminKey))
	_, err := admin.CreateGroup(ctx, connect.NewRequest(&nexusv1.CreateGroupRequest{Name: "eng"}))
	require.NoError(t, err)
	_, err = admin.CreateUser(ctx, connect.NewRequest(&nexusv1.CreateUserRequest{Name: "bob"}))
	require.NoError(t, err)
	_, err = admin.AddGroupMember(ctx, connect.NewRequest(&nexusv1.AddGroupMemberRequest{Group: "eng", Member: "bob"}))
	require.NoError(t, err)
	require.NoError(t, r.stop(), "graceful shutdown returns no error")

	r2 := start(t, server.Config{DataDir: dir})
	require.Equal(t, r.adminKey, r2.adminKey, "a second start keeps the first admin key")
	admin = nexusv1connect.NewIdentityServiceClient(http.DefaultClient, r2.url, bearer(r2.adminKey))
	resp, err := admin.Check(ctx, connect.NewRequest(&nexusv1.CheckRequest{Resource: "group:eng", Permission: "membership", Subject: "user:bob"}))
	require.NoError(t, err)
	require.True(t, resp.Msg.GetAllowed())
}

func TestStartFailures(t *testing.T) {
	t.Parallel()
	t.Run("data dir in use", func(t *testing.T) {
		t.Parallel()
		r := start(t, server.Config{})
		_, err := server.Open(context.Background(), server.Config{DataDir: r.dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		require.Error(t, err)
		require.Contains(t, err.Error(), "nexus.lock")
		require.Contains(t, err.Error(), "in use")
	})
	t.Run("data dir not creatable", func(t *testing.T) {
		t.Parallel()
		file := filepath.Join(t.TempDir(), "file")
		require.NoError(t, os.WriteFile(file, nil, 0o600))
		_, err := server.Open(context.Background(), server.Config{DataDir: filepath.Join(file, "sub")})
		require.Error(t, err)
		require.Contains(t, err.Error(), "cannot be created")
	})
	t.Run("data dir not writable", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		require.NoError(t, os.Chmod(dir, 0o500))
		if os.Geteuid() == 0 {
			// Mode bits do not stop root; /proc/self exists and takes no files.
			dir = "/proc/self"
		}
		_, err := server.Open(context.Background(), server.Config{DataDir: dir})
		require.Error(t, err)
		require.Contains(t, err.Error(), "not writable")
	})
	t.Run("port in use", func(t *testing.T) {
		t.Parallel()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer ln.Close()
		_, err = server.Listen(ln.Addr().String())
		require.Error(t, err)
		require.Contains(t, err.Error(), "already in use")
	})
}

func TestFilesAcrossProtocols(t *testing.T) {
	t.Parallel()
	r := start(t, server.Config{})
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			ctx := context.Background()
			fc := nexusv1connect.NewFileServiceClient(p.client(), r.url, append(p.opts, bearer(r.adminKey))...)
			path := "/" + p.name + "/hello.txt"
			w, err := fc.Write(ctx, connect.NewRequest(&nexusv1.WriteRequest{Path: path, Data: []byte("hi " + p.name), CreateParents: true}))
			require.NoError(t, err)
			require.Equal(t, int64(1), w.Msg.GetEntry().GetVersion())
			require.Equal(t, "admin", w.Msg.GetEntry().GetCreatedBy())
			rd, err := fc.Read(ctx, connect.NewRequest(&nexusv1.ReadRequest{Path: path}))
			require.NoError(t, err)
			require.Equal(t, "hi "+p.name, string(rd.Msg.GetData()))
			require.True(t, rd.Msg.GetEof())
			ls, err := fc.List(ctx, connect.NewRequest(&nexusv1.ListRequest{Path: "/" + p.name}))
			require.NoError(t, err)
			require.Len(t, ls.Msg.GetEntries(), 1)
			_, err = fc.Stat(ctx, connect.NewRequest(&nexusv1.StatRequest{Path: "/" + p.name + "/missing"}))
			require.Equal(t, connect.CodeNotFound, connect.CodeOf(err))
			_, err = fc.Write(ctx, connect.NewRequest(&nexusv1.WriteRequest{Path: "relative"}))
			require.Equal(t, connect.CodeInvalidArgument, connect.CodeOf(err))
			require.Contains(t, err.Error(), "must be absolute")
		})
	}
	t.Run("plain JSON", func(t *testing.T) {
		code, body := post(t, r.url+"/nexus.v1.FileService/Write", r.adminKey, `{"path": "/json.txt", "data": "aGVsbG8="}`)
		require.Equal(t, http.StatusOK, code, "%v", body)
		code, body = post(t, r.url+"/nexus.v1.FileService/Read", r.adminKey, `{"path": "/json.txt"}`)
		require.Equal(t, http.StatusOK, code)
		require.Equal(t, "aGVsbG8=", body["data"])
		code, body = post(t, r.url+"/nexus.v1.FileService/Read", "", `{"path": "/json.txt"}`)
		require.Equal(t, http.StatusUnauthorized, code, "%v", body)
	})
}

func TestUnaryWriteOverLimitNamesTheUpload(t *testing.T) {
	t.Parallel()
	r := start(t, server.Config{MaxUnaryBytes: 1000})
	fc := nexusv1connect.NewFileServiceClient(http.DefaultClient, r.url, bearer(r.adminKey))
	_, err := fc.Write(context.Background(), connect.NewRequest(&nexusv1.WriteRequest{Path: "/big", Data: make([]byte, 1001)}))
	require.Equal(t, connect.CodeResourceExhausted, connect.CodeOf(err))
	require.Contains(t, err.Error(), "1000-byte limit")
	require.Contains(t, err.Error(), "chunked upload")
}
