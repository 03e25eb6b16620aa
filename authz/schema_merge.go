package authz

import (
	"context"
	"errors"
	"fmt"
	"strings"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	nsdiff "github.com/authzed/spicedb/pkg/diff/namespace"
	core "github.com/authzed/spicedb/pkg/proto/core/v1"
	"github.com/authzed/spicedb/pkg/schemadsl/compiler"
	"github.com/authzed/spicedb/pkg/schemadsl/generator"
	"github.com/authzed/spicedb/pkg/schemadsl/input"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The engine's schema is Nexus's own definitions (Config.Schema, from
// schema.zed) plus any definitions other services added through
// WriteSchema. The rule:
//   - a schema written through WriteSchema must contain every one of
//     Nexus's definitions unchanged (comments aside); it may add, change or
//     remove any other definition (SpiceDB itself refuses to drop a
//     definition or relation that still has relationships);
//   - at start, Nexus's definitions come from Config.Schema (a new version
//     of Nexus may change them) and every other definition is kept: from
//     the engine's current schema, and from the log when the log keeps the
//     schema (SchemaLog), since the in-memory datastore starts empty.

// SchemaLog is a Log that also keeps the schema last written through
// WriteSchema, so the definitions other services added survive a restart.
// A Log without it keeps only what the engine's datastore keeps.
type SchemaLog interface {
	// LoadSchema returns the schema last saved, or "" if none.
	LoadSchema(ctx context.Context) (string, error)
	// SaveSchema records text as the schema.
	SaveSchema(ctx context.Context, text string) error
}

// ErrOwnDefinitions is a schema that would remove or alter one of Nexus's
// own definitions. Its message names them.
var ErrOwnDefinitions = errors.New("the schema would change Nexus's own definitions")

// compileSchema compiles schema text as SpiceDB does, prefixes optional.
func compileSchema(text string) (*compiler.CompiledSchema, error) {
	return compiler.Compile(compiler.InputSchema{Source: input.Source("schema"), SchemaString: text},
		compiler.AllowUnprefixedObjectType())
}

// definitionNames returns the names of the object and caveat definitions of
// schema text.
func definitionNames(text string) (map[string]bool, error) {
	c, err := compileSchema(text)
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for _, d := range c.OrderedDefinitions {
		names[d.GetName()] = true
	}
	return names, nil
}

// OwnDefinitions returns the names of Nexus's own definitions: those of
// Config.Schema, sorted as written.
func (e *Engine) OwnDefinitions() []string {
	out := make([]string, 0, len(e.own))
	c, err := compileSchema(e.base)
	if err != nil {
		return nil
	}
	for _, d := range c.OrderedDefinitions {
		out = append(out, d.GetName())
	}
	return out
}

// IsOwnDefinition reports whether typ is one of Nexus's own definitions.
func (e *Engine) IsOwnDefinition(typ string) bool { return e.own[typ] }

// checkOwnKept returns an error wrapping ErrOwnDefinitions, naming each of
// base's definitions that text removes or alters; nil if text keeps them
// all as they are. Comment changes are not changes.
func checkOwnKept(base *compiler.CompiledSchema, text *compiler.CompiledSchema) error {
	incoming := map[string]compiler.SchemaDefinition{}
	for _, d := range text.OrderedDefinitions {
		incoming[d.GetName()] = d
	}
	var removed, altered []string
	for _, def := range base.ObjectDefinitions {
		got, ok := incoming[def.GetName()]
		if !ok {
			removed = append(removed, def.GetName())
			continue
		}
		ns, isNS := got.(*core.NamespaceDefinition)
		if !isNS {
			altered = append(altered, def.GetName()+" (no longer an object definition)")
			continue
		}
		d, err := nsdiff.DiffNamespaces(def, ns)
		if err != nil {
			return fmt.Errorf("authz: comparing definition %s: %w", def.GetName(), err)
		}
		var changes []string
		for _, delta := range d.Deltas() {
			switch delta.Type {
			case nsdiff.NamespaceCommentsChanged, nsdiff.ChangedPermissionComment, nsdiff.ChangedRelationComment:
				continue
			}
			c := string(delta.Type)
			if delta.RelationName != "" {
				c += " " + delta.RelationName
			}
			changes = append(changes, c)
		}
		if len(changes) > 0 {
			altered = append(altered, def.GetName()+" ("+strings.Join(changes, ", ")+")")
		}
	}
	if len(removed) == 0 && len(altered) == 0 {
		return nil
	}
	var parts []string
	if len(removed) > 0 {
		parts = append(parts, "it removes "+strings.Join(removed, ", "))
	}
	if len(altered) > 0 {
		parts = append(parts, "it alters "+strings.Join(altered, "; "))
	}
	return fmt.Errorf("%w: %s; Nexus's own definitions (schema.zed: ReadSchema returns them) must be sent unchanged along with yours",
		ErrOwnDefinitions, strings.Join(parts, "; "))
}

// mergedSchema returns base followed by every definition of others (schema
// texts, first one first) whose name base does not define.
func mergedSchema(ctx context.Context, base string, others ...string) (string, []string, error) {
	own, err := definitionNames(base)
	if err != nil {
		return "", nil, fmt.Errorf("authz: %w: %s", ErrSchema, err)
	}
	seen := map[string]bool{}
	var keep []compiler.SchemaDefinition
	var names []string
	for _, text := range others {
		if strings.TrimSpace(text) == "" {
			continue
		}
		c, err := compileSchema(text)
		if err != nil {
			return "", nil, fmt.Errorf("authz: %w: the definitions others added do not compile: %s", ErrSchema, err)
		}
		for _, d := range c.OrderedDefinitions {
			if own[d.GetName()] || seen[d.GetName()] {
				continue
			}
			seen[d.GetName()] = true
			keep = append(keep, d)
			names = append(names, d.GetName())
		}
	}
	if len(keep) == 0 {
		return base, nil, nil
	}
	src, _, err := generator.GenerateSchema(ctx, keep)
	if err != nil {
		return "", nil, fmt.Errorf("authz: generating the definitions others added: %w", err)
	}
	return strings.TrimRight(base, "\n") + "\n\n" + src + "\n", names, nil
}

// currentSchema returns the engine's schema text, "" if it has none.
func (e *Engine) currentSchema(ctx context.Context) (string, error) {
	resp, err := e.schema.ReadSchema(ctx, &v1.ReadSchemaRequest{})
	if status.Code(err) == codes.NotFound {
		return "", nil
	}
	if err != nil {
		return "", wrapErr("read schema", err)
	}
	return resp.GetSchemaText(), nil
}

// WriteSchema replaces the schema with text, which must keep every one of
// Nexus's own definitions unchanged (else an error wrapping
// ErrOwnDefinitions). The engine validates the rest and refuses, with its
// own code and message, a change that would orphan relationships. With a
// SchemaLog, text is recorded so the definitions survive a restart.
func (e *Engine) WriteSchema(ctx context.Context, text string) (Token, error) {
	// The engine compiles with the same compiler and fewer options: what
	// does not compile here would not there either, and nothing reaches the
	// engine unchecked.
	compiled, err := compileSchema(text)
	if err != nil {
		return "", fmt.Errorf("authz: %w: %s", ErrInvalid, err)
	}
	base, err := compileSchema(e.base)
	if err != nil {
		return "", fmt.Errorf("authz: compiling Nexus's schema: %w", err)
	}
	if err := checkOwnKept(base, compiled); err != nil {
		return "", err
	}
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	prev, err := e.currentSchema(ctx)
	if err != nil {
		return "", err
	}
	tok, err := e.writeSchemaText(ctx, text)
	if err != nil {
		return "", wrapErr("write schema", err)
	}
	if sl, ok := e.log.(SchemaLog); ok {
		if err := sl.SaveSchema(ctx, text); err != nil {
			e.wroteSchema(ctx, tok)
			back, uerr := e.schema.WriteSchema(ctx, &v1.WriteSchemaRequest{Schema: prev})
			if uerr != nil {
				e.logger.Error("authz: cannot restore the schema after failing to record the new one; restart to restore it", "err", uerr)
			} else {
				e.wroteSchema(ctx, Token(back.GetWrittenAt().GetToken()))
			}
			return "", fmt.Errorf("authz: recording the schema: %w", err)
		}
	}
	e.wroteSchema(ctx, tok)
	e.logger.Info("authz: schema written")
	return tok, nil
}

// writeSchemaText writes text as SpiceDB's schema and returns the write's
// token; on PostgreSQL under the outbox lock and announced, as every write
// to SpiceDB is there (node_writes.go). Its error is SpiceDB's, unwrapped.
func (e *Engine) writeSchemaText(ctx context.Context, text string) (Token, error) {
	write := func(ctx context.Context) (Token, error) {
		resp, err := e.schema.WriteSchema(ctx, &v1.WriteSchemaRequest{Schema: text})
		if err != nil {
			return "", err
		}
		return Token(resp.GetWrittenAt().GetToken()), nil
	}
	if e.outbox == nil {
		return write(ctx)
	}
	return e.outbox.locked(ctx, write)
}
