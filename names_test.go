package nexus_test

import (
	"testing"

	"github.com/authzed/spicedb/pkg/schemadsl/compiler"
	"github.com/authzed/spicedb/pkg/schemadsl/input"

	"github.com/nexus-authz/nexus"
)

// TestSchemaNames pins every name constant to schema.zed: each type is a
// definition, each relation a relation and each permission a permission of
// at least one definition.
func TestSchemaNames(t *testing.T) {
	c, err := compiler.Compile(compiler.InputSchema{Source: input.Source("schema.zed"), SchemaString: nexus.Schema},
		compiler.AllowUnprefixedObjectType())
	if err != nil {
		t.Fatalf("schema.zed: %v", err)
	}
	types := map[string]bool{}
	relations := map[string]bool{}
	permissions := map[string]bool{}
	for _, d := range c.ObjectDefinitions {
		types[d.GetName()] = true
		for _, r := range d.GetRelation() {
			if r.GetUsersetRewrite() != nil {
				permissions[r.GetName()] = true
			} else {
				relations[r.GetName()] = true
			}
		}
	}
	for _, name := range []string{nexus.TypeUser, nexus.TypeZone, nexus.TypeGroup, nexus.TypeFolder,
		nexus.TypeFile, nexus.TypeShareLink, nexus.TypeMemory} {
		if !types[name] {
			t.Errorf("type %q is not a definition of schema.zed", name)
		}
	}
	for _, name := range []string{nexus.RelZone, nexus.RelParent, nexus.RelOwner, nexus.RelEditor,
		nexus.RelViewer, nexus.RelAdmin, nexus.RelMember, nexus.RelManager, nexus.RelCreator} {
		if !relations[name] {
			t.Errorf("relation %q is not a relation of schema.zed", name)
		}
	}
	for _, name := range []string{nexus.PermRead, nexus.PermWrite, nexus.PermDelete, nexus.PermShare,
		nexus.PermAdmin, nexus.PermManage, nexus.PermAccess, nexus.PermMembership, nexus.PermView} {
		if !permissions[name] {
			t.Errorf("permission %q is not a permission of schema.zed", name)
		}
	}
	if len(types) != 7 {
		t.Errorf("schema.zed has %d definitions, names.go names 7: name the new one", len(types))
	}
}
