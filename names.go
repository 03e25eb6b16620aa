package nexus

// The names of schema.zed, spelled once. Every package that writes a
// relationship or asks a question of Nexus's own types uses these;
// TestSchemaNames fails when one is not in the compiled schema.

// Object types.
const (
	TypeUser      = "user"
	TypeZone      = "zone"
	TypeGroup     = "group"
	TypeFolder    = "folder"
	TypeFile      = "file"
	TypeShareLink = "share_link"
	TypeMemory    = "memory"
)

// Relations.
const (
	RelZone    = "zone"    // group, folder, file, share_link, memory: the zone it belongs to
	RelParent  = "parent"  // folder, file: the folder it is in
	RelOwner   = "owner"   // user (an agent's owner), folder, file, memory
	RelEditor  = "editor"  // folder, file
	RelViewer  = "viewer"  // folder, file, memory
	RelAdmin   = "admin"   // zone
	RelMember  = "member"  // zone, group
	RelManager = "manager" // group
	RelCreator = "creator" // share_link
)

// Permissions.
const (
	PermRead       = "read"       // folder, file, memory
	PermWrite      = "write"      // folder, file, memory
	PermDelete     = "delete"     // folder, file, memory
	PermShare      = "share"      // folder, file
	PermAdmin      = "admin"      // folder, file, memory
	PermManage     = "manage"     // zone, group, share_link
	PermAccess     = "access"     // zone
	PermMembership = "membership" // group
	PermView       = "view"       // group
)
