// Package spiceapi serves SpiceDB's v1 API (authzed.api.v1
// PermissionsService, SchemaService and WatchService) to other services, so an unchanged
// authzed-go client can use Nexus. It serves the API over Connect, gRPC and
// gRPC-web with connect-go handlers built from authzed-go's message types
// and descriptors (there are no .proto files to generate from), on the same
// port as everything else.
//
// What it decides is who may do what (policy.go); the answers come from
// the authz engine: checks through its decision cache, writes through its
// relationship log, lookups and reads straight from the embedded SpiceDB.
// It knows nothing of files, sharing or identity's storage.
package spiceapi

import (
	"context"
	"log/slog"
	"net/http"

	"connectrpc.com/connect"
	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/nexus-authz/nexus/authz"
	"github.com/nexus-authz/nexus/identity"
)

// Engine is what the API needs of authz.
type Engine interface {
	authz.Checker
	authz.Writer
	Read(ctx context.Context, f authz.Filter, c authz.Consistency) ([]authz.Relationship, error)
	WriteSchema(ctx context.Context, text string) (authz.Token, error)
	Import(ctx context.Context, next authz.ImportSource) (int, authz.Token, error)
	IsOwnDefinition(typ string) bool
	OwnDefinitions() []string
	ProtoConsistency(c authz.Consistency) *v1.Consistency
	Newest(tokens ...authz.Token) authz.Token
	Conn() *grpc.ClientConn
}

// Identity authenticates keys and says who is an operator.
type Identity interface {
	Authenticate(ctx context.Context, key string) (identity.Principal, error)
	IsOperator(ctx context.Context, p identity.Principal) (bool, error)
}

// Handler serves the two services.
type Handler struct {
	engine Engine
	ids    Identity
	perms  v1.PermissionsServiceClient // the embedded SpiceDB, for lookups and reads
	schema v1.SchemaServiceClient
	watch  v1.WatchServiceClient
	log    *slog.Logger
}

// New returns a Handler answering from engine, authenticating with ids.
func New(engine Engine, ids Identity, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.Default()
	}
	return &Handler{
		engine: engine,
		ids:    ids,
		perms:  v1.NewPermissionsServiceClient(engine.Conn()),
		schema: v1.NewSchemaServiceClient(engine.Conn()),
		watch:  v1.NewWatchServiceClient(engine.Conn()),
		log:    log,
	}
}

// The procedures served, as SpiceDB names them.
const (
	CheckPermissionProcedure      = "/authzed.api.v1.PermissionsService/CheckPermission"
	CheckBulkPermissionsProcedure = "/authzed.api.v1.PermissionsService/CheckBulkPermissions"
	LookupResourcesProcedure      = "/authzed.api.v1.PermissionsService/LookupResources"
	LookupSubjectsProcedure       = "/authzed.api.v1.PermissionsService/LookupSubjects"
	ExpandProcedure               = "/authzed.api.v1.PermissionsService/ExpandPermissionTree"
	ReadRelationshipsProcedure    = "/authzed.api.v1.PermissionsService/ReadRelationships"
	WriteRelationshipsProcedure   = "/authzed.api.v1.PermissionsService/WriteRelationships"
	DeleteRelationshipsProcedure  = "/authzed.api.v1.PermissionsService/DeleteRelationships"
	ImportBulkProcedure           = "/authzed.api.v1.PermissionsService/ImportBulkRelationships"
	ExportBulkProcedure           = "/authzed.api.v1.PermissionsService/ExportBulkRelationships"
	ReadSchemaProcedure           = "/authzed.api.v1.SchemaService/ReadSchema"
	WriteSchemaProcedure          = "/authzed.api.v1.SchemaService/WriteSchema"
)

// Mount registers the procedures on mux. opts (metrics, limits) come first;
// then this package's authentication of service keys.
func (h *Handler) Mount(mux *http.ServeMux, opts ...connect.HandlerOption) {
	perms := v1.File_authzed_api_v1_permission_service_proto.Services().ByName("PermissionsService").Methods()
	schema := v1.File_authzed_api_v1_schema_service_proto.Services().ByName("SchemaService").Methods()
	watch := v1.File_authzed_api_v1_watch_service_proto.Services().ByName("WatchService").Methods()
	with := func(m protoreflect.MethodDescriptor) []connect.HandlerOption {
		o := append([]connect.HandlerOption{connect.WithSchema(m)}, opts...)
		return append(o, connect.WithInterceptors(newAuthInterceptor(h.ids, h.log)))
	}
	mux.Handle(CheckPermissionProcedure, connect.NewUnaryHandler(CheckPermissionProcedure, h.CheckPermission, with(perms.ByName("CheckPermission"))...))
	mux.Handle(CheckBulkPermissionsProcedure, connect.NewUnaryHandler(CheckBulkPermissionsProcedure, h.CheckBulkPermissions, with(perms.ByName("CheckBulkPermissions"))...))
	mux.Handle(LookupResourcesProcedure, connect.NewServerStreamHandler(LookupResourcesProcedure, h.LookupResources, with(perms.ByName("LookupResources"))...))
	mux.Handle(LookupSubjectsProcedure, connect.NewServerStreamHandler(LookupSubjectsProcedure, h.LookupSubjects, with(perms.ByName("LookupSubjects"))...))
	mux.Handle(ExpandProcedure, connect.NewUnaryHandler(ExpandProcedure, h.ExpandPermissionTree, with(perms.ByName("ExpandPermissionTree"))...))
	mux.Handle(ReadRelationshipsProcedure, connect.NewServerStreamHandler(ReadRelationshipsProcedure, h.ReadRelationships, with(perms.ByName("ReadRelationships"))...))
	mux.Handle(WriteRelationshipsProcedure, connect.NewUnaryHandler(WriteRelationshipsProcedure, h.WriteRelationships, with(perms.ByName("WriteRelationships"))...))
	mux.Handle(DeleteRelationshipsProcedure, connect.NewUnaryHandler(DeleteRelationshipsProcedure, h.DeleteRelationships, with(perms.ByName("DeleteRelationships"))...))
	mux.Handle(ImportBulkProcedure, connect.NewClientStreamHandler(ImportBulkProcedure, h.ImportBulkRelationships, with(perms.ByName("ImportBulkRelationships"))...))
	mux.Handle(ExportBulkProcedure, connect.NewServerStreamHandler(ExportBulkProcedure, h.ExportBulkRelationships, with(perms.ByName("ExportBulkRelationships"))...))
	mux.Handle(ReadSchemaProcedure, connect.NewUnaryHandler(ReadSchemaProcedure, h.ReadSchema, with(schema.ByName("ReadSchema"))...))
	mux.Handle(WriteSchemaProcedure, connect.NewUnaryHandler(WriteSchemaProcedure, h.WriteSchema, with(schema.ByName("WriteSchema"))...))
	mux.Handle(WatchProcedure, connect.NewServerStreamHandler(WatchProcedure, h.Watch, with(watch.ByName("Watch"))...))
}
