package configs

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// schema is the set of keys a config file may hold at one level: each key
// with the schema below it (nil for a value), or any key (a map).
type schema struct {
	keys    map[string]*schema
	anyKeys bool
}

// schemaOf derives the allowed keys from the mapstructure tags of a
// struct type, so that the file's keys and Config cannot drift apart.
func schemaOf(t reflect.Type) *schema {
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return schemaOf(t.Elem())
	case reflect.Map:
		return &schema{anyKeys: true}
	case reflect.Struct:
		if t.PkgPath() != reflect.TypeOf(Config{}).PkgPath() {
			return nil // time.Duration and the like are values
		}
		s := &schema{keys: map[string]*schema{}}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag, _, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
			if tag == "" || tag == "-" {
				continue
			}
			s.keys[tag] = schemaOf(f.Type)
		}
		return s
	}
	return nil
}

// checkKeys refuses keys of a config file that lifeboat does not know: a
// misspelled key (hots:, kep:) would otherwise be ignored and silently
// turn a setting off. The error names the key, its line and the closest
// known key. Only YAML and JSON files are checked.
func checkKeys(file string) error {
	switch strings.ToLower(filepath.Ext(file)) {
	case ".yml", ".yaml", ".json":
	default:
		return nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("config file %s: %w", file, err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return syntaxError(file, err)
	}
	if len(doc.Content) == 0 {
		return nil // empty file
	}
	if err := walkKeys(doc.Content[0], schemaOf(reflect.TypeOf(Config{})), ""); err != nil {
		return fmt.Errorf("config file %s:%w", file, err)
	}
	return nil
}

func walkKeys(n *yaml.Node, s *schema, place string) error {
	if s == nil || s.anyKeys {
		return nil
	}
	switch n.Kind {
	case yaml.SequenceNode:
		for i, item := range n.Content {
			if err := walkKeys(item, s, fmt.Sprintf("%s[%d]", place, i)); err != nil {
				return err
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			sub, ok := s.keys[k.Value]
			if !ok {
				where := "at the top level"
				if place != "" {
					where = "in " + place
				}
				msg := fmt.Sprintf("%d: unknown key %q %s", k.Line, k.Value, where)
				if near := closest(k.Value, s.keys); near != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", near)
				}
				return fmt.Errorf("%s", msg)
			}
			if err := walkKeys(v, sub, strings.TrimPrefix(place+"."+k.Value, ".")); err != nil {
				return err
			}
		}
	}
	return nil
}

// closest returns the known key nearest to key by edit distance, if it is
// near enough to be a likely typo.
func closest(key string, known map[string]*schema) string {
	names := make([]string, 0, len(known))
	for k := range known {
		names = append(names, k)
	}
	sort.Strings(names)
	best, bestD := "", len(key)/2+2
	for _, k := range names {
		if d := editDistance(key, k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
