package repository

import "github.com/lifeboat-backup/lifeboat/repository/pack"

// Kind is a kind of object in a repository: the folder its objects live
// in. Every name of an object is made here, so that no other code spells
// "data/" or "index/".
type Kind string

// The kinds of objects (docs/design.md, "Layout").
const (
	KindConfig    Kind = "config"    // the one config object
	KindKeys      Kind = "keys"      // password-wrapped master keys
	KindSnapshots Kind = "snapshots" // snapshot manifests
	KindIndex     Kind = "index"     // index files
	KindLocks     Kind = "locks"     // locks
	KindMarks     Kind = "marks"     // packs a prune marked for deletion
	KindData      Kind = "data"      // pack files, in 256 sub-folders
	KindDamaged   Kind = "damaged"   // damaged packs that repair packs set aside
)

// Prefix is what the names of the kind's objects start with, for a listing.
func (k Kind) Prefix() string { return string(k) + "/" }

// Name is the object name of id.
func (k Kind) Name(id pack.ID) string {
	if k == KindData {
		s := id.String()
		return k.Prefix() + s[:2] + "/" + s
	}
	return k.Prefix() + id.String()
}

// ad is the additional data that seals an object of the kind, so that one
// kind cannot be read as another.
func (k Kind) ad() []byte { return []byte("lifeboat " + string(k)) }
