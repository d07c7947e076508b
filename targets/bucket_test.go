package targets

import "testing"

func TestParseBucket(t *testing.T) {
	for _, bad := range []string{"s3://", "s3:///x", "http://b/x", "s3://a b/x"} {
		if _, err := ParseBucket(bad, "s3"); err == nil {
			t.Errorf("ParseBucket(%q) accepted", bad)
		}
	}
	b, err := ParseBucket("s3://bucket/a/b/", "s3")
	if err != nil || b.Name != "bucket" || b.Prefix != "a/b" || b.String() != "s3://bucket/a/b" {
		t.Fatalf("%+v %v", b, err)
	}
	if k := b.Key("data/x"); k != "a/b/data/x" || b.ObjectName(k) != "data/x" {
		t.Fatalf("key %q", k)
	}
	plain, _ := ParseBucket("gs://bucket", "gs")
	if plain.Key("config") != "config" || plain.ObjectName("config") != "config" || plain.String() != "gs://bucket" {
		t.Fatalf("%+v", plain)
	}
}
