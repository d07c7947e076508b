package repository

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/lifeboat-backup/lifeboat/repository/pack"
)

// Node types.
const (
	TypeFile    = "file"
	TypeDir     = "dir"
	TypeSymlink = "symlink"
	TypeFifo    = "fifo"
	TypeChar    = "chardev"
	TypeBlock   = "blockdev"
	TypeSocket  = "socket"
)

// Xattr is one extended attribute (POSIX ACLs and file capabilities are
// xattrs too: system.posix_acl_access, security.capability).
type Xattr struct {
	Name  string `json:"name"`
	Value []byte `json:"value"`
}

// Node is one entry of a directory. Names and link targets are byte
// strings: they are kept exactly, valid UTF-8 or not.
type Node struct {
	Name       string    `json:"-"`
	Type       string    `json:"type"`
	Mode       uint32    `json:"mode"` // permission bits with setuid, setgid and sticky (st_mode & 07777)
	UID        uint32    `json:"uid"`
	GID        uint32    `json:"gid"`
	ModTime    int64     `json:"mtime_ns"` // nanoseconds since the Unix epoch
	ChangeTime int64     `json:"ctime_ns"` // for change detection only
	Inode      uint64    `json:"inode,omitempty"`
	Device     uint64    `json:"dev,omitempty"` // st_dev, pairs with Inode for hard links
	Links      uint64    `json:"links,omitempty"`
	Rdev       uint64    `json:"rdev,omitempty"` // device number of char/block devices
	Size       uint64    `json:"size,omitempty"`
	Sparse     bool      `json:"sparse,omitempty"` // restore zero runs as holes
	LinkTarget string    `json:"-"`
	Xattrs     []Xattr   `json:"xattrs,omitempty"`
	Content    []pack.ID `json:"content,omitempty"` // data blobs of a file, in order
	Subtree    *pack.ID  `json:"subtree,omitempty"` // tree blob of a directory
}

// nodeJSON carries the byte-string fields as base64 so that names that are
// not UTF-8 survive a round trip.
type nodeJSON struct {
	Name       []byte `json:"name"`
	LinkTarget []byte `json:"link_target,omitempty"`
	*nodeFields
}

type nodeFields Node

// MarshalJSON encodes a node with its byte-string fields as base64.
func (n Node) MarshalJSON() ([]byte, error) {
	f := nodeFields(n)
	j := nodeJSON{Name: []byte(n.Name), nodeFields: &f}
	if n.LinkTarget != "" {
		j.LinkTarget = []byte(n.LinkTarget)
	}
	return json.Marshal(j)
}

// UnmarshalJSON is the inverse of MarshalJSON.
func (n *Node) UnmarshalJSON(b []byte) error {
	j := nodeJSON{nodeFields: (*nodeFields)(n)}
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	n.Name = string(j.Name)
	n.LinkTarget = string(j.LinkTarget)
	return nil
}

// Tree is a directory listing, sorted by name.
type Tree struct {
	Nodes []Node `json:"nodes"`
}

// ValidName reports whether name can be a directory entry: not empty, not
// "." or "..", no slash and no NUL. A restore relies on this.
func ValidName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\x00")
}

// EncodeTree serialises a tree deterministically, so that equal directories
// give equal blobs. Nodes must be sorted by name.
func EncodeTree(t *Tree) ([]byte, error) {
	if err := t.validate(); err != nil {
		return nil, err
	}
	return appendTree(nil, t), nil
}

// DecodeTree parses a tree blob and checks its structure.
func DecodeTree(b []byte) (*Tree, error) {
	t, err := parseTree(b)
	if err != nil {
		t = &Tree{}
		if err := json.Unmarshal(b, t); err != nil {
			return nil, fmt.Errorf("%w: tree: %v", ErrDamaged, err)
		}
	}
	if err := t.validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDamaged, err)
	}
	return t, nil
}

func (t *Tree) validate() error {
	for i, n := range t.Nodes {
		if !ValidName(n.Name) {
			return fmt.Errorf("tree: invalid name %q", n.Name)
		}
		if i > 0 && t.Nodes[i-1].Name >= n.Name {
			return fmt.Errorf("tree: names not sorted or repeated at %q", n.Name)
		}
		switch n.Type {
		case TypeDir:
			if n.Subtree == nil {
				return fmt.Errorf("tree: directory %q has no subtree", n.Name)
			}
		case TypeFile, TypeSymlink, TypeFifo, TypeChar, TypeBlock, TypeSocket:
			if n.Subtree != nil {
				return fmt.Errorf("tree: %s %q has a subtree", n.Type, n.Name)
			}
		default:
			return fmt.Errorf("tree: %q has unknown type %q", n.Name, n.Type)
		}
		if n.Type != TypeFile && len(n.Content) > 0 {
			return fmt.Errorf("tree: %s %q has content", n.Type, n.Name)
		}
	}
	return nil
}

// Find returns the node called name, or nil.
func (t *Tree) Find(name string) *Node {
	lo, hi := 0, len(t.Nodes)
	for lo < hi {
		m := (lo + hi) / 2
		if t.Nodes[m].Name < name {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(t.Nodes) && t.Nodes[lo].Name == name {
		return &t.Nodes[lo]
	}
	return nil
}

// LoadTree reads and decodes a tree blob.
func (r *Repository) LoadTree(ctx context.Context, id pack.ID) (*Tree, error) {
	b, err := r.LoadBlob(ctx, pack.TreeBlob, id, nil)
	if err != nil {
		return nil, err
	}
	t, err := DecodeTree(b)
	if err != nil {
		return nil, fmt.Errorf("tree %s: %w", id.Short(), err)
	}
	return t, nil
}

// SaveTree encodes a tree and saves it through w; it returns the tree id.
func (w *Writer) SaveTree(t *Tree) (pack.ID, error) {
	b, err := EncodeTree(t)
	if err != nil {
		return pack.ID{}, err
	}
	id := w.r.BlobID(b)
	_, err = w.SaveBlob(pack.TreeBlob, id, b)
	return id, err
}

// DisplayName quotes a name for messages when it is not printable UTF-8.
func DisplayName(s string) string {
	if utf8.ValidString(s) && !strings.ContainsAny(s, "\n\r\t") {
		return s
	}
	return fmt.Sprintf("%q", s)
}
