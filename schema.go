// Package nexus holds what belongs to the whole service rather than to one
// capability: the ReBAC schema that every package's decisions come from.
package nexus

import _ "embed"

// Schema is schema.zed, applied to the authorization engine at every start.
//
//go:embed schema.zed
var Schema string
