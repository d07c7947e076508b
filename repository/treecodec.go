package repository

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"strconv"

	"github.com/lifeboat-backup/lifeboat/repository/pack"
)

// Tree blobs are JSON in one canonical form: what encoding/json writes for
// a Tree, whose nodes marshal through Node.MarshalJSON. Walking a snapshot
// decodes thousands of them and every backup encodes them again, and
// encoding/json scans each node several times through the nested
// (Un)MarshalJSON, so trees are written and read here by hand:
//
//   - appendTree writes exactly the bytes json.Marshal would (tests compare
//     the two on every kind of node, and the fuzz target on arbitrary ones);
//   - parseTree reads only that canonical form (keys in order, no spaces,
//     strings without escapes) and reports errNotCanonical for anything
//     else, which DecodeTree then hands to encoding/json, so that what is
//     accepted, and how it decodes, is what encoding/json decides.

// errNotCanonical: the input is not in the form appendTree writes.
var errNotCanonical = errors.New("tree is not in canonical form")

// appendTree appends the canonical JSON of t to b.
func appendTree(b []byte, t *Tree) []byte {
	b = append(b, `{"nodes":`...)
	if t.Nodes == nil {
		return append(b, `null}`...)
	}
	b = append(b, '[')
	for i := range t.Nodes {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendNode(b, &t.Nodes[i])
	}
	return append(b, `]}`...)
}

func appendNode(b []byte, n *Node) []byte {
	b = append(b, `{"name":`...)
	b = appendBase64(b, []byte(n.Name))
	if n.LinkTarget != "" {
		b = append(b, `,"link_target":`...)
		b = appendBase64(b, []byte(n.LinkTarget))
	}
	b = append(b, `,"type":`...)
	b = appendString(b, n.Type)
	b = append(b, `,"mode":`...)
	b = strconv.AppendUint(b, uint64(n.Mode), 10)
	b = append(b, `,"uid":`...)
	b = strconv.AppendUint(b, uint64(n.UID), 10)
	b = append(b, `,"gid":`...)
	b = strconv.AppendUint(b, uint64(n.GID), 10)
	b = append(b, `,"mtime_ns":`...)
	b = strconv.AppendInt(b, n.ModTime, 10)
	b = append(b, `,"ctime_ns":`...)
	b = strconv.AppendInt(b, n.ChangeTime, 10)
	for _, f := range [...]struct {
		key string
		v   uint64
	}{{`,"inode":`, n.Inode}, {`,"dev":`, n.Device}, {`,"links":`, n.Links}, {`,"rdev":`, n.Rdev}, {`,"size":`, n.Size}} {
		if f.v != 0 {
			b = append(b, f.key...)
			b = strconv.AppendUint(b, f.v, 10)
		}
	}
	if n.Sparse {
		b = append(b, `,"sparse":true`...)
	}
	if len(n.Xattrs) > 0 {
		b = append(b, `,"xattrs":[`...)
		for i, x := range n.Xattrs {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"name":`...)
			b = appendString(b, x.Name)
			b = append(b, `,"value":`...)
			if x.Value == nil {
				b = append(b, `null`...)
			} else {
				b = appendBase64(b, x.Value)
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if len(n.Content) > 0 {
		b = append(b, `,"content":[`...)
		for i, id := range n.Content {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendID(b, id)
		}
		b = append(b, ']')
	}
	if n.Subtree != nil {
		b = append(b, `,"subtree":`...)
		b = appendID(b, *n.Subtree)
	}
	return append(b, '}')
}

func appendBase64(b, v []byte) []byte {
	b = append(b, '"')
	b = base64.StdEncoding.AppendEncode(b, v)
	return append(b, '"')
}

func appendID(b []byte, id pack.ID) []byte {
	b = append(b, '"')
	b = hex.AppendEncode(b, id[:])
	return append(b, '"')
}

// appendString writes s as encoding/json does; strings that need escaping
// (rare here: types and xattr names are plain ASCII) are left to it.
func appendString(b []byte, s string) []byte {
	if !plainString(s) {
		q, _ := json.Marshal(s) // a string always marshals
		return append(b, q...)
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// plainString reports whether encoding/json writes s between quotes as is:
// printable ASCII without quote, backslash or the HTML-escaped <, > and &.
func plainString(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// treeParser reads the canonical form; any surprise is errNotCanonical.
type treeParser struct {
	b       []byte
	pos     int
	scratch []byte // decoded names, before they become strings
}

func parseTree(b []byte) (*Tree, error) {
	p := &treeParser{b: b}
	t := &Tree{}
	if !p.lit(`{"nodes":`) {
		return nil, errNotCanonical
	}
	if !p.lit(`null`) {
		if !p.lit(`[`) {
			return nil, errNotCanonical
		}
		t.Nodes = []Node{}
		for !p.lit(`]`) {
			if len(t.Nodes) > 0 && !p.lit(`,`) {
				return nil, errNotCanonical
			}
			t.Nodes = append(t.Nodes, Node{})
			if err := p.node(&t.Nodes[len(t.Nodes)-1]); err != nil {
				return nil, err
			}
		}
	}
	if !p.lit(`}`) || p.pos != len(p.b) {
		return nil, errNotCanonical
	}
	return t, nil
}

// lit consumes s if the input continues with it.
func (p *treeParser) lit(s string) bool {
	if len(p.b)-p.pos < len(s) || string(p.b[p.pos:p.pos+len(s)]) != s {
		return false
	}
	p.pos += len(s)
	return true
}

func (p *treeParser) node(n *Node) error {
	if !p.lit(`{"name":`) {
		return errNotCanonical
	}
	var err error
	if n.Name, err = p.base64String(); err != nil {
		return err
	}
	if p.lit(`,"link_target":`) {
		if n.LinkTarget, err = p.base64String(); err != nil {
			return err
		}
	}
	if !p.lit(`,"type":`) {
		return errNotCanonical
	}
	typ, err := p.str()
	if err != nil {
		return err
	}
	n.Type = internType(typ)
	for _, f := range [...]struct {
		key  string
		into *uint32
	}{{`,"mode":`, &n.Mode}, {`,"uid":`, &n.UID}, {`,"gid":`, &n.GID}} {
		if !p.lit(f.key) {
			return errNotCanonical
		}
		v, err := p.uint(32)
		if err != nil {
			return err
		}
		*f.into = uint32(v)
	}
	for _, f := range [...]struct {
		key  string
		into *int64
	}{{`,"mtime_ns":`, &n.ModTime}, {`,"ctime_ns":`, &n.ChangeTime}} {
		if !p.lit(f.key) {
			return errNotCanonical
		}
		v, err := p.int()
		if err != nil {
			return err
		}
		*f.into = v
	}
	for _, f := range [...]struct {
		key  string
		into *uint64
	}{{`,"inode":`, &n.Inode}, {`,"dev":`, &n.Device}, {`,"links":`, &n.Links}, {`,"rdev":`, &n.Rdev}, {`,"size":`, &n.Size}} {
		if p.lit(f.key) {
			v, err := p.uint(64)
			if err != nil {
				return err
			}
			*f.into = v
		}
	}
	n.Sparse = p.lit(`,"sparse":true`)
	if p.lit(`,"xattrs":[`) {
		n.Xattrs = []Xattr{}
		for !p.lit(`]`) {
			if len(n.Xattrs) > 0 && !p.lit(`,`) {
				return errNotCanonical
			}
			var x Xattr
			if !p.lit(`{"name":`) {
				return errNotCanonical
			}
			name, err := p.str()
			if err != nil {
				return err
			}
			x.Name = string(name)
			if !p.lit(`,"value":`) {
				return errNotCanonical
			}
			if !p.lit(`null`) {
				if x.Value, err = p.base64([]byte{}); err != nil {
					return err
				}
			}
			if !p.lit(`}`) {
				return errNotCanonical
			}
			n.Xattrs = append(n.Xattrs, x)
		}
	}
	if p.lit(`,"content":[`) {
		n.Content = []pack.ID{}
		for !p.lit(`]`) {
			if len(n.Content) > 0 && !p.lit(`,`) {
				return errNotCanonical
			}
			id, err := p.id()
			if err != nil {
				return err
			}
			n.Content = append(n.Content, id)
		}
	}
	if p.lit(`,"subtree":`) {
		id, err := p.id()
		if err != nil {
			return err
		}
		n.Subtree = &id
	}
	if !p.lit(`}`) {
		return errNotCanonical
	}
	return nil
}

// str reads a string without escapes and with only printable ASCII, the
// only strings appendString writes itself.
func (p *treeParser) str() ([]byte, error) {
	if !p.lit(`"`) {
		return nil, errNotCanonical
	}
	start := p.pos
	for p.pos < len(p.b) {
		c := p.b[p.pos]
		if c == '"' {
			p.pos++
			return p.b[start : p.pos-1], nil
		}
		if c < 0x20 || c >= 0x80 || c == '\\' || c == '<' || c == '>' || c == '&' {
			return nil, errNotCanonical
		}
		p.pos++
	}
	return nil, errNotCanonical
}

// base64 decodes a base64 string into dst.
func (p *treeParser) base64(dst []byte) ([]byte, error) {
	s, err := p.str()
	if err != nil {
		return nil, err
	}
	v, err := base64.StdEncoding.AppendDecode(dst, s)
	if err != nil {
		return nil, errNotCanonical
	}
	return v, nil
}

func (p *treeParser) base64String() (string, error) {
	v, err := p.base64(p.scratch[:0])
	p.scratch = v
	return string(v), err
}

// internType returns the constant for a known node type, saving an
// allocation per node.
func internType(b []byte) string {
	for _, t := range [...]string{TypeFile, TypeDir, TypeSymlink, TypeFifo, TypeChar, TypeBlock, TypeSocket} {
		if string(b) == t {
			return t
		}
	}
	return string(b)
}

func (p *treeParser) id() (pack.ID, error) {
	s, err := p.str()
	var id pack.ID
	if err != nil {
		return id, err
	}
	// As pack.ParseID: exactly 32 bytes of hex.
	if len(s) != 2*len(id) {
		return id, errNotCanonical
	}
	if _, err := hex.Decode(id[:], s); err != nil {
		return id, errNotCanonical
	}
	return id, nil
}

// uint reads a JSON integer (0, or a non-zero digit and more) that fits
// in bits.
func (p *treeParser) uint(bits int) (uint64, error) {
	start := p.pos
	var v uint64
	for p.pos < len(p.b) && p.b[p.pos] >= '0' && p.b[p.pos] <= '9' {
		d := uint64(p.b[p.pos] - '0')
		if v > (math.MaxUint64-d)/10 {
			return 0, errNotCanonical
		}
		v = v*10 + d
		p.pos++
	}
	n := p.pos - start
	if n == 0 || (p.b[start] == '0' && n > 1) || (bits < 64 && v >= 1<<bits) {
		return 0, errNotCanonical
	}
	return v, nil
}

func (p *treeParser) int() (int64, error) {
	neg := p.lit(`-`)
	v, err := p.uint(64)
	switch {
	case err != nil:
		return 0, err
	case neg && v <= 1<<63:
		return int64(-v), nil // -(1<<63) wraps to itself, math.MinInt64
	case !neg && v < 1<<63:
		return int64(v), nil
	}
	return 0, errNotCanonical
}
