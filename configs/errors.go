package configs

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"go.yaml.in/yaml/v3"
)

// A config error names the file and line of the value it is about, as a
// compiler does (FILE:LINE: what is wrong), and says what was expected.

// yamlLine is how go-yaml starts a syntax error: "yaml: line N: ...".
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxError turns a YAML syntax error into FILE:LINE: message.
func syntaxError(file string, err error) error {
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		return fmt.Errorf("config file %s:%s: %s", file, m[1], m[2])
	}
	return fmt.Errorf("config file %s: %w", file, err)
}

// decodeError turns a decoding error of the setting at key (as
// "daemon.jobs[0].keep.last") into FILE:LINE: key: what is wrong, the
// line found in the file's YAML; a value that did not come from the file
// (the environment, a flag) gets no line.
func decodeError(file string, err error) error {
	var de *mapstructure.DecodeError
	if !errors.As(err, &de) {
		return fmt.Errorf("config: %w", err)
	}
	key := de.Name()
	where, value := "config", ""
	if file != "" {
		where = "config file " + file
		if line, v := lineOf(file, key); line > 0 {
			where += ":" + strconv.Itoa(line)
			value = v
		}
	}
	return fmt.Errorf("%s: %s: %s", where, key, expected(fieldType(reflect.TypeOf(Config{}), key), value, de.Unwrap()))
}

// expected says what a value (value: as the file gives it, if known)
// failed to be, by the type of its setting (nil if not known).
func expected(t reflect.Type, value string, err error) string {
	var pe *mapstructure.ParseError
	if errors.As(err, &pe) {
		t, value = pe.Expected.Type(), fmt.Sprint(pe.Value)
	}
	switch {
	case t == nil:
	case t == reflect.TypeOf(time.Duration(0)):
		hint := ""
		if strings.HasSuffix(value, "d") || strings.HasSuffix(value, "w") || strings.HasSuffix(value, "y") {
			hint = " (days are hours here: 48h for 2 days)"
		}
		return fmt.Sprintf("%q is not a duration: give a number with a unit of h, m or s, as 36h or 90m%s", value, hint)
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return fmt.Sprintf("%q is not a whole number", value)
	case t.Kind() == reflect.Bool:
		return fmt.Sprintf("%q is not true or false", value)
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return fmt.Sprintf("%q is not a number", value)
	}
	return err.Error()
}

// fieldType is the Go type of the setting at key in t (by mapstructure
// tags), or nil.
func fieldType(t reflect.Type, key string) reflect.Type {
	for _, m := range keyPart.FindAllStringSubmatch(key, -1) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch {
		case m[2] != "" && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array):
			t = t.Elem()
		case m[1] != "" && t.Kind() == reflect.Map:
			t = t.Elem()
		case m[1] != "" && t.Kind() == reflect.Struct:
			found := false
			for i := 0; i < t.NumField(); i++ {
				tag, _, _ := strings.Cut(t.Field(i).Tag.Get("mapstructure"), ",")
				if strings.EqualFold(tag, m[1]) {
					t, found = t.Field(i).Type, true
					break
				}
			}
			if !found {
				return nil
			}
		default:
			return nil
		}
	}
	return t
}

// keyPart is one step of a key path: a name, or an index in brackets.
var keyPart = regexp.MustCompile(`([^.\[\]]+)|\[(\d+)\]`)

// lineOf finds the line and the value of key ("daemon.jobs[0].keep.last")
// in a YAML or JSON file, or 0.
func lineOf(file, key string) (int, string) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, ""
	}
	var doc yaml.Node
	if yaml.Unmarshal(b, &doc) != nil || len(doc.Content) == 0 {
		return 0, ""
	}
	n := doc.Content[0]
	for _, m := range keyPart.FindAllStringSubmatch(key, -1) {
		switch {
		case m[2] != "" && n.Kind == yaml.SequenceNode:
			i, _ := strconv.Atoi(m[2])
			if i >= len(n.Content) {
				return 0, ""
			}
			n = n.Content[i]
		case m[1] != "" && n.Kind == yaml.MappingNode:
			found := false
			for i := 0; i+1 < len(n.Content); i += 2 {
				if strings.EqualFold(n.Content[i].Value, m[1]) {
					n, found = n.Content[i+1], true
					break
				}
			}
			if !found {
				return 0, ""
			}
		default:
			return 0, ""
		}
	}
	return n.Line, n.Value
}
