package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"

	"connectrpc.com/connect"
	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	nexusv1 "github.com/nexus-authz/nexus/api/nexus/v1"
	"github.com/nexus-authz/nexus/api/nexus/v1/nexusv1connect"
	"github.com/nexus-authz/nexus/server"
)

// procedure is one unary RPC the server answers, with its request type.
type procedure struct {
	name  string // "/nexus.v1.FileService/Stat"
	input protoreflect.MessageType
}

// unaryProcedures lists every unary method of Nexus's services and of the
// SpiceDB API the server mounts, from the generated descriptors: a method
// added to a .proto is fuzzed without a change here.
func unaryProcedures(tb testing.TB) []procedure {
	var out []procedure
	add := func(fd protoreflect.FileDescriptor) {
		for i := 0; i < fd.Services().Len(); i++ {
			sd := fd.Services().Get(i)
			for j := 0; j < sd.Methods().Len(); j++ {
				md := sd.Methods().Get(j)
				if md.IsStreamingClient() || md.IsStreamingServer() {
					continue
				}
				mt, err := protoregistry.GlobalTypes.FindMessageByName(md.Input().FullName())
				if err != nil {
					tb.Fatal(err)
				}
				out = append(out, procedure{name: "/" + string(sd.FullName()) + "/" + string(md.Name()), input: mt})
			}
		}
	}
	for _, fd := range []protoreflect.FileDescriptor{
		nexusv1.File_nexus_v1_files_proto, nexusv1.File_nexus_v1_sharing_proto, nexusv1.File_nexus_v1_identity_proto,
		nexusv1.File_nexus_v1_memory_proto, nexusv1.File_nexus_v1_search_proto,
		v1.File_authzed_api_v1_permission_service_proto, v1.File_authzed_api_v1_schema_service_proto,
	} {
		add(fd)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// jsonSeeds are real request bodies, keyed by procedure.
var jsonSeeds = map[string][]string{
	"/nexus.v1.FileService/Write":            {`{"path":"/docs/a.txt","data":"aGVsbG8=","createParents":true}`, `{"path":"/docs/a.txt","data":"","expectedVersion":"1"}`},
	"/nexus.v1.FileService/Read":             {`{"path":"/docs/a.txt"}`, `{"path":"/docs/a.txt","offset":"9223372036854775807","length":"-1"}`},
	"/nexus.v1.FileService/List":             {`{"path":"/","pageSize":2}`, `{"path":"/docs","pageToken":"garbage"}`},
	"/nexus.v1.FileService/Stat":             {`{"path":"/docs","consistency":{"atLeastAsFresh":"GhUKEzE3MzM0MTk0NDkwMDAwMDAwMDA="}}`},
	"/nexus.v1.FileService/Mkdir":            {`{"path":"/a/b/c","parents":true}`},
	"/nexus.v1.FileService/Move":             {`{"source":"/docs/a.txt","destination":"/docs/b.txt"}`},
	"/nexus.v1.FileService/Copy":             {`{"source":"/docs","destination":"/docs/sub"}`},
	"/nexus.v1.FileService/Delete":           {`{"path":"/docs","recursive":true}`},
	"/nexus.v1.FileService/Glob":             {`{"pattern":"/**/*.txt"}`, `{"pattern":"/{a,b,c}/[!x]*"}`},
	"/nexus.v1.FileService/Grep":             {`{"pattern":"a{1000}","path":"/"}`, `{"pattern":"(?i)hello","caseInsensitive":true}`},
	"/nexus.v1.FileService/BeginUpload":      {`{"path":"/big.bin","size":"1048576"}`},
	"/nexus.v1.FileService/AppendUpload":     {`{"uploadId":"upl_x","offset":"9223372036854775807","data":"AA=="}`},
	"/nexus.v1.ShareService/Grant":           {`{"path":"/docs","subject":"user:bob","role":"ROLE_EDITOR"}`},
	"/nexus.v1.ShareService/CreateLink":      {`{"path":"/docs","role":"ROLE_VIEWER","expiresIn":"3600s","maxUses":"3","password":"p"}`},
	"/nexus.v1.ShareService/OpenLink":        {`{"token":"nxl_AAAA","subPath":"../x","pageSize":-1}`},
	"/nexus.v1.IdentityService/CreateUser":   {`{"name":"bob"}`, `{"name":7}`},
	"/nexus.v1.IdentityService/Check":        {`{"resource":"/docs","permission":"read","subject":"user:bob"}`, `{"resource":"group:otherzone/team","permission":"member","subject":"user:bob"}`},
	"/nexus.v1.IdentityService/CreateAPIKey": {`{"user":"admin","scope":"write","expiresInSeconds":"2592000"}`},
	"/nexus.v1.MemoryService/Remember":       {`{"text":"the cat sat","tags":["a","b"]}`},
	"/nexus.v1.SearchService/Search":         {`{"query":"cat OR \"sat on\"","pageSize":10}`},
	"/authzed.api.v1.PermissionsService/CheckPermission": {
		`{"resource":{"objectType":"billing/invoice","objectId":"i1"},"permission":"view","subject":{"object":{"objectType":"user","objectId":"u1"}},"consistency":{"fullyConsistent":true}}`,
	},
	"/authzed.api.v1.PermissionsService/WriteRelationships": {
		`{"updates":[{"operation":"OPERATION_TOUCH","relationship":{"resource":{"objectType":"file","objectId":"f1"},"relation":"viewer","subject":{"object":{"objectType":"user","objectId":"u1"}}}}]}`,
	},
	"/authzed.api.v1.PermissionsService/DeleteRelationships": {`{"relationshipFilter":{"resourceType":"","optionalResourceIdPrefix":"x"}}`},
	"/authzed.api.v1.SchemaService/WriteSchema":              {`{"schema":"definition billing/invoice {\n relation viewer: user\n permission view = viewer\n}"}`},
}

// FuzzConnectJSON posts arbitrary bytes as the Connect JSON body of every
// unary request type, to a real server, as the admin (an operator's write
// key). method picks the procedure (modulo their number). Properties:
//   - the server never fails: no HTTP 500, no internal, unknown or
//     data_loss code, no dropped connection (a panic in a handler);
//   - a body protojson cannot decode into the request type is refused with
//     invalid_argument, and one it decodes round-trips (Marshal, Unmarshal,
//     Equal);
//   - every invalid_argument says what is wrong (a non-empty message).
//
// It is slow per input (a whole request through the server); make fuzz
// gives it the same time as the others.
func FuzzConnectJSON(f *testing.F) {
	procs := unaryProcedures(f)
	r := start(f, server.Config{})
	ctx := context.Background()
	ids := nexusv1connect.NewIdentityServiceClient(http.DefaultClient, r.url, bearer(r.adminKey))
	resp, err := ids.CreateAPIKey(ctx, connect.NewRequest(&nexusv1.CreateAPIKeyRequest{User: "admin", Scope: "write"}))
	if err != nil {
		f.Fatal(err)
	}
	opWrite := resp.Msg.GetSecret()
	keyFor := func(p procedure) string {
		if strings.HasPrefix(p.name, "/authzed.") {
			return opWrite
		}
		return r.adminKey
	}
	// Only what the server mounts: the SpiceDB API's other methods
	// (ExpandPermissionTree, ReflectSchema, ...) are not served.
	mounted := procs[:0]
	for _, p := range procs {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.url+p.name, strings.NewReader("{}"))
		if err != nil {
			f.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+keyFor(p))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			f.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusNotFound && res.StatusCode != http.StatusMethodNotAllowed {
			mounted = append(mounted, p)
		}
	}
	procs = mounted
	for i, p := range procs {
		f.Add(uint16(i), []byte(`{}`))
		for _, s := range jsonSeeds[p.name] {
			f.Add(uint16(i), []byte(s))
		}
	}
	f.Add(uint16(0), []byte(`not json`))
	f.Add(uint16(1), []byte(`{"path":"\ud800"}`))
	decode := protojson.UnmarshalOptions{DiscardUnknown: true} // connect's codec's options
	f.Fuzz(func(t *testing.T, method uint16, body []byte) {
		p := procs[int(method)%len(procs)]
		msg := p.input.New().Interface()
		decErr := decode.Unmarshal(body, msg)
		if decErr == nil {
			enc, err := protojson.Marshal(msg)
			if err != nil {
				t.Fatalf("%s: %q decodes but does not encode: %v", p.name, body, err)
			}
			again := p.input.New().Interface()
			if err := protojson.Unmarshal(enc, again); err != nil || !proto.Equal(msg, again) {
				t.Fatalf("%s: %q decodes to %v, which round-trips to %v (%v)", p.name, body, msg, again, err)
			}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.url+p.name, strings.NewReader(string(body)))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+keyFor(p))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s with %q: %v (did the handler panic?)", p.name, body, err)
		}
		defer res.Body.Close()
		raw, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatalf("%s with %q: reading the answer: %v", p.name, body, err)
		}
		if res.StatusCode == http.StatusOK {
			if decErr != nil {
				t.Fatalf("%s accepted %q, which does not decode: %v", p.name, body, decErr)
			}
			return
		}
		var e struct{ Code, Message string }
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatalf("%s with %q: HTTP %d and a body that is not a Connect error: %q", p.name, body, res.StatusCode, raw)
		}
		switch {
		case res.StatusCode >= 500 && e.Code != "unavailable" && e.Code != "resource_exhausted",
			e.Code == "internal", e.Code == "unknown", e.Code == "data_loss":
			t.Fatalf("%s with %q: HTTP %d %s %q", p.name, body, res.StatusCode, e.Code, e.Message)
		case decErr != nil && e.Code != "invalid_argument":
			t.Fatalf("%s with %q, which does not decode (%v): %s, not invalid_argument", p.name, body, decErr, e.Code)
		case e.Code == "invalid_argument" && strings.TrimSpace(e.Message) == "":
			t.Fatalf("%s with %q: invalid_argument without a message", p.name, body)
		}
	})
}
